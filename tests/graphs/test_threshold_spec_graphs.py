"""Threshold graphs from a model's GraphSpec (the arma model's edges): the spec that
training writes (``frame_graph_spec``) carries the layer feature and both distances, and
the one spec -> graph builder (C++ ``build_graphs`` through ``graphs_from_spec``) gives
exactly the training edges (``frame_graphs``) and the dense NumPy reference's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.graphs.reference import threshold_reference
from e2e_gnn.spec import GraphSpec, ModelSpec, SpecError
from e2e_gnn.train.data import FrameEdges, LabelledFrames, frame_graph_spec, frame_graphs

EDGES = FrameEdges("threshold", 0, same_layer=0.3, adjacent_layer=0.2)


def _frames(layered: bool, rng: np.random.Generator) -> LabelledFrames:
    """Sparse 15 x 15 frames (3 layers when ``layered``): one empty frame (a single
    centre node), one with a single hot pixel, hits on the image border."""
    shape = (8, 1, 3, 15, 15) if layered else (8, 2, 15, 15)
    data = np.where(rng.random(shape) < 0.12, rng.exponential(1.0, shape), 0.0)
    data = data.astype(np.float32)
    data[1] = 0.0
    data[2] = 0.0
    data[2, 0, ..., 0, 14] = 2.5
    data[3, 0, ..., 0, :] = 1.0  # a full border row
    label = np.arange(8, dtype=np.float32) % 2
    channels = ("CALO",) if layered else ("ECAL", "HCAL")
    return LabelledFrames(data, channels, label, np.arange(8, dtype=np.int64))


@pytest.mark.parametrize("layered", [True, False])
def test_spec_builds_the_training_edges(layered: bool) -> None:
    rng = np.random.default_rng(14)
    frames = _frames(layered, rng)
    spec = frame_graph_spec(frames, EDGES)
    assert (spec.builder, spec.same_layer, spec.adjacent_layer) == ("threshold", 0.3, 0.2)
    assert spec.layer == ("layer" if layered else None)

    training = frame_graphs(frames, EDGES)
    # the spec as a deployment reads it: through the model spec's JSON and the C++ reader
    model = ModelSpec("arma", "ARMATagger", {}, graph=spec)
    read = ModelSpec.from_json(model.to_json()).graph
    assert read == spec
    deployed = graphs_from_spec(training.x, training.node_ptr, read)
    np.testing.assert_array_equal(deployed.x, training.x)
    np.testing.assert_array_equal(deployed.batch, training.batch)
    np.testing.assert_array_equal(deployed.edge_index, training.edge_index)

    pos = training.x[:, :2]
    layer = training.x[:, 2].astype(np.int64) if layered else np.zeros(len(pos), np.int64)
    expected, _ = threshold_reference(pos, layer, training.node_ptr, 0.3, 0.2)
    np.testing.assert_array_equal(deployed.edge_index, expected)
    assert deployed.edge_index.shape[1] > 100  # enough edges for the equality to mean something
    if layered:  # edges between layers exist, and none across two layers
        step = np.abs(np.diff(training.x[deployed.edge_index, 2], axis=0))
        assert step.max() == 1 and (step == 1).sum() > 10


def test_specs_without_the_distances_read_unchanged_and_say_what_is_missing() -> None:
    """A threshold spec exported before the fields existed reads as it did; building its
    edges is refused in one line (the deployment passes edges instead)."""
    old = {
        "feature_names": ["row", "col", "layer", "CALO"],
        "builder": "threshold",
        "k": None,
        "loop": False,
        "coordinates": ["row", "col"],
        "coordinate_scale": [1.0, 1.0],
        "fixed_degree": False,
        "graph_feature_names": [],
    }
    model = ModelSpec("arma", "ARMATagger", {}, graph=GraphSpec.from_dict(old))
    data = json.loads(model.to_json())
    data["graph"] = old
    spec = ModelSpec.from_json(json.dumps(data)).graph
    assert spec is not None
    assert (spec.layer, spec.same_layer, spec.adjacent_layer) == (None, None, None)
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="asks for 'threshold' edges without their distances"):
        graphs_from_spec(x, [0, 3], spec)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"same_layer": "0.3"}, "'graph.same_layer' must be a finite number, got \"0.3\""),
        ({"layer": "depth"}, "graph spec layer 'depth' is not one of the node features"),
        (
            {"builder": "knn", "k": 4, "adjacent_layer": 0.3},
            "'graph.layer', 'graph.same_layer' and 'graph.adjacent_layer' are for 'threshold' "
            "edges, the builder is 'knn'",
        ),
    ],
)
def test_python_reads_the_threshold_fields_with_the_cpp_rules(fields, message) -> None:
    graph = GraphSpec(
        ("row", "col", "layer", "CALO"),
        builder="threshold",
        k=None,
        coordinates=("row", "col"),
        layer="layer",
        same_layer=0.3,
        adjacent_layer=0.3,
    )
    data = json.loads(ModelSpec("arma", "ARMATagger", {}, graph=graph).to_json())
    data["graph"].update(fields)
    with pytest.raises(SpecError, match="'arma.onnx' has a malformed e2e_gnn spec: ") as error:
        ModelSpec.from_json(json.dumps(data), "model 'arma.onnx'")
    assert message in str(error.value)


def test_layers_must_be_whole_numbers() -> None:
    spec = GraphSpec(
        ("row", "col", "layer"),
        builder="threshold",
        k=None,
        coordinates=("row", "col"),
        layer="layer",
        same_layer=0.3,
        adjacent_layer=0.3,
    )
    x = np.array([[0, 0, 0], [0.1, 0, 1], [0.2, 0, 1.5]], np.float32)
    with pytest.raises(ValueError, match=r"layer 1\.5 \(feature 'layer'\) at node 2 \(graph 1\)"):
        graphs_from_spec(x, [0, 1, 3], spec)
