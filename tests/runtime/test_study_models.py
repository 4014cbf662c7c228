"""The two study models (JetPointNet, the constituent-calibration GNN; conftest fixture
``study_models``) through the Python Tagger on onnxruntime and native: every output equal
to torch within 1e-5 absolute (tests/study_models.py ATOL), split per graph,
on one-node graphs (E = 0), graphs among them, a cloud longer than 859 points and a
shuffled batch; ``tag_nodes`` builds the edges the producers wrote."""

from __future__ import annotations

import numpy as np
import pytest
from tests.study_models import ATOL, STUDIES, assert_outputs_equal, flat

from e2e_gnn import Tagger
from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.ragged import Ragged

BACKENDS = ["onnxruntime", "native"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", STUDIES)
def test_outputs_equal_torch(study_models, name: str, backend: str) -> None:
    study = study_models[name]
    primary = study.spec.outputs[0].name
    with Tagger(study.path, backend=backend) as tagger:
        for label, case in study.cases.items():
            outputs = tagger.outputs(case.batch)
            for output, got in outputs.items():
                if study.per_node[output]:
                    assert isinstance(got, Ragged), output
                    np.testing.assert_array_equal(got.offsets, case.batch.node_ptr)
            assert_outputs_equal(flat(outputs), case, study.per_node, f"{name} {label}")
            np.testing.assert_array_equal(tagger(case.batch).values, outputs[primary].values)


def test_the_spec_builds_the_edges_the_producers_wrote(study_models) -> None:
    """The C++ builder, from the spec the training wrote, against the producer's edges:
    Delaunay in (deta, dphi) for the jets, none for the clouds."""
    from e2e_gnn.train.calibration import calibration_graph_spec

    assert study_models["calibration"].spec.graph == calibration_graph_spec()
    assert study_models["jetpointnet"].spec.graph.builder == "none"
    for name in STUDIES:
        study = study_models[name]
        data = study.data
        built = graphs_from_spec(data.x, data.node_ptr, study.spec.graph, u=data.u)
        if np.array_equal(built.edge_index, data.edge_index):
            continue
        differ = [
            g
            for g in range(data.num_graphs)
            if not np.array_equal(built.graph(g)[1], data.graph(g)[1])
        ]
        pytest.fail(f"{name}: edges built from the spec differ from the producer's in {differ}")
    assert study_models["calibration"].data.num_edges > 0
    assert study_models["jetpointnet"].data.num_edges == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", STUDIES)
def test_tag_nodes_equal_torch(study_models, name: str, backend: str) -> None:
    """Raw node features (and u): edges built from the spec, one call, the primary output
    per graph."""
    study = study_models[name]
    primary = study.spec.outputs[0].name
    with Tagger(study.path, backend=backend) as tagger:
        for label, case in study.cases.items():
            batch = case.batch
            got = tagger.tag_nodes(batch.x, batch.node_ptr, u=batch.u)
            assert isinstance(got, Ragged)
            np.testing.assert_array_equal(got.offsets, batch.node_ptr)
            np.testing.assert_allclose(
                got.values, case.expected[primary], atol=ATOL, rtol=0, err_msg=label
            )
