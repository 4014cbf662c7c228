"""Node-level outputs and graph features through the bindings (e2e_gnn._native and the
native backend): every output flat with its spec level, u fed and checked in C++, the
'delaunay' (phi wrapping around) and 'none' builders of graphs_from_spec. The models are
the hand-made ones of cpp/tests/node_models.py, compared with their NumPy reference."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from e2e_gnn._native_loader import load_native
from e2e_gnn.graphs import graphs_from_spec
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.reference import delaunay_reference
from e2e_gnn.runtime.backends import NativeBackend
from e2e_gnn.spec import GraphSpec, ModelSpec, SpecError

ATOL = 1e-5
ROOT = Path(__file__).resolve().parents[2]
native = load_native()


def _node_models() -> ModuleType:
    pytest.importorskip("onnx")
    found = importlib.util.spec_from_file_location(
        "node_models", ROOT / "cpp" / "tests" / "node_models.py"
    )
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, Path]:
    node_models = _node_models()
    directory = tmp_path_factory.mktemp("node_models")
    node_models.write(directory)
    return node_models, directory


def jets(seed: int, sizes: list[int], phi_centre: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """x [N, 3] (eta, phi wrapped into [-pi, pi), energy) and ptr of jets of ``sizes``."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    phi = np.mod(phi_centre + rng.normal(0, 0.15, n) + np.pi, 2 * np.pi) - np.pi
    x = np.stack([rng.normal(0, 0.15, n), phi, rng.uniform(1, 10, n)], axis=1)
    return x.astype(np.float32), np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def test_native_backend_returns_every_output_flat_with_its_level(models) -> None:
    node_models, directory = models
    backend = NativeBackend(directory / "node_model.onnx")
    spec = ModelSpec.from_metadata(backend.metadata)
    assert [o.per_node for o in spec.outputs] == [True, False]
    assert backend._tagger.per_node == {"fraction": True, "total": False}
    x, ptr = jets(0, [1, 6, 1, 9, 3], phi_centre=np.pi)  # one-node jets, across phi = +-pi
    graphs = graphs_from_spec(x, ptr, spec.graph)
    outputs = backend.run(graphs.inputs())
    fraction, total = node_models.reference(x, graphs.edge_index, ptr)
    assert outputs["fraction"].shape == (len(x), 2) and outputs["total"].shape == (5, 1)
    np.testing.assert_allclose(outputs["fraction"], fraction, atol=ATOL, rtol=0)
    np.testing.assert_allclose(outputs["total"], total, atol=ATOL, rtol=0)
    # tag_nodes builds the same Delaunay graphs in C++ and returns the primary output flat
    np.testing.assert_array_equal(backend._tagger.tag_nodes(x, ptr), outputs["fraction"])
    empty = backend._tagger.tag_nodes(np.zeros((0, 3), np.float32), np.zeros(1, np.int64))
    assert empty.shape == (0, 2)


def test_graph_features_reach_the_model_and_are_checked_in_cpp(models) -> None:
    node_models, directory = models
    backend = NativeBackend(directory / "node_model_u.onnx")
    spec = ModelSpec.from_metadata(backend.metadata)
    assert spec.num_graph_features == 2
    x, ptr = jets(1, [4, 1, 7])
    u = np.random.default_rng(2).normal(size=(3, 2)).astype(np.float32)
    graphs = graphs_from_spec(x, ptr, spec.graph)
    assert graphs.edge_index.shape == (2, 0)  # builder 'none': E = 0
    feed = {**graphs.inputs(), "u": u}
    outputs = backend.run(feed)
    fraction, total = node_models.reference(x, graphs.edge_index, ptr, u)
    np.testing.assert_allclose(outputs["fraction"], fraction, atol=ATOL, rtol=0)
    np.testing.assert_allclose(outputs["total"], total, atol=ATOL, rtol=0)
    np.testing.assert_array_equal(backend._tagger.tag_nodes(x, ptr, u), outputs["fraction"])

    with pytest.raises(ValueError, match=r"model takes inputs \['batch', 'edge_index', 'u', 'x'\]"):
        backend.run(graphs.inputs())
    tagger = backend._tagger
    with pytest.raises(ValueError, match=r"the model takes graph features: input 'u' \[3, 2\]"):
        tagger.run(graphs.x, graphs.edge_index, graphs.batch)
    with pytest.raises(ValueError, match=r"input 'u' has dtype float64, expected float32"):
        tagger.run(graphs.x, graphs.edge_index, graphs.batch, u.astype(np.float64))
    with pytest.raises(ValueError, match=r"input 'u' must be float32 \[G, F_u\] with G = 3"):
        tagger.tag_nodes(x, ptr, u[:2])
    bad = u.copy()
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="non-finite value inf at graph 2, feature 1"):
        tagger.run(graphs.x, graphs.edge_index, graphs.batch, bad)


def test_graph_batch_validate_checks_u_with_the_cpp_check() -> None:
    x, ptr = jets(3, [2, 3])
    graphs = graphs_from_spec(x, ptr, GraphSpec(("eta", "phi", "energy"), builder="none"))
    u = np.ones((2, 4), np.float32)
    with_u = GraphBatch(graphs.x, graphs.edge_index, graphs.batch, 2, u=u)
    with_u.validate(3, 4)
    with_u.validate(3)  # any width
    with pytest.raises(ValueError, match=r"input 'u' has shape \[2, 4\], expected \[2, 3\]"):
        with_u.validate(3, 3)
    with pytest.raises(ValueError, match=r"input 'u' \[2, 4\] given but the model takes no graph"):
        with_u.validate(3, 0)
    with pytest.raises(ValueError, match=r"the model takes graph features: input 'u' \[2, 4\] is"):
        graphs.validate(3, 4)
    graphs.validate(3)
    with pytest.raises(ValueError, match=r"input 'u' has shape \[3, 4\], expected \[2, F_u\]"):
        native.check_graph_inputs(**graphs.inputs(), u=np.ones((3, 4), np.float32))


def test_graphs_from_spec_delaunay_wraps_phi_and_none_has_no_edges() -> None:
    node_models = _node_models()
    spec = GraphSpec(("eta", "phi", "energy"), builder="delaunay", coordinates=("eta", "phi"))
    x, ptr = jets(4, [12, 2, 1, 30, 5], phi_centre=np.pi)
    assert np.ptp(x[ptr[3] : ptr[4], 1]) > np.pi  # jet 3 lies across phi = +-pi
    built = graphs_from_spec(x, ptr, spec)
    pos = np.stack([x[:, 0], node_models.unwrapped_phi(x[:, 1], ptr)], axis=1)
    expected = delaunay_reference(pos, ptr)  # scipy (Qhull) on the unwrapped positions
    two_node = np.array([[ptr[1], ptr[1] + 1], [ptr[1] + 1, ptr[1]]])  # scipy skips n < 3
    expected = expected[:, np.lexsort((expected[0], expected[1]))]
    merged = np.concatenate([expected, two_node], axis=1)
    np.testing.assert_array_equal(built.edge_index, merged[:, np.lexsort((merged[0], merged[1]))])
    # the same jets turned by -pi in phi (nothing wraps there) have the same edges
    turned = x.copy()
    turned[:, 1] = node_models.unwrapped_phi(x[:, 1], ptr) - np.float32(np.pi)
    np.testing.assert_array_equal(graphs_from_spec(turned, ptr, spec).edge_index, built.edge_index)
    none = graphs_from_spec(x, ptr, GraphSpec(spec.feature_names, builder="none"))
    assert none.edge_index.shape == (2, 0) and none.num_graphs == 5
    with pytest.raises(ValueError, match="Delaunay edges need 2, \\(eta, phi\\)"):
        graphs_from_spec(x, ptr, GraphSpec(spec.feature_names, builder="delaunay"))


def test_spec_reader_refuses_outputs_without_a_level(models) -> None:
    _, directory = models
    metadata = NativeBackend(directory / "node_model.onnx").metadata
    text = metadata["e2e_gnn.spec"].replace('"nodes", 2', '"points", 2')
    with pytest.raises(SpecError, match="output 'fraction' \\(outputs\\[0\\]\\) has first axis"):
        ModelSpec.from_json(text, "model 'm.onnx'")
    names = '"graph_feature_names": '
    text = metadata["e2e_gnn.spec"].replace(names + "[]", names + '["a"]')
    with pytest.raises(SpecError, match="names 1 graph features but the inputs list no 'u'"):
        ModelSpec.from_json(text)
