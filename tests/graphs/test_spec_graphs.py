"""One spec -> positions -> graph implementation: Python's graphs_from_spec and the C++
Tagger's build_graphs (the model's spec read from its file) build the same edges, and both
equal the NumPy reference kNN over x[:, coordinates] * coordinate_scale."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from e2e_gnn._native_loader import load_native
from e2e_gnn.graphs import graphs_from_spec
from e2e_gnn.graphs.reference import knn_reference
from e2e_gnn.spec import SPEC_KEY, GraphSpec, SpecError

native = load_native()


def model_with_graph(source: Path, target: Path, graph: GraphSpec) -> Path:
    """A copy of the model at `source` whose spec metadata carries `graph`."""
    model = onnx.load(source)
    for prop in model.metadata_props:
        if prop.key == SPEC_KEY:
            prop.value = json.dumps({**json.loads(prop.value), "graph": dataclasses.asdict(graph)})
    onnx.save(model, target)
    return target


CASES = {
    "toy": {},
    "loop": {"loop": True},
    "scaled": {"coordinate_scale": (0.25, 3.0)},
    "k-larger-than-graphs": {"k": 40, "loop": True, "coordinate_scale": (2.0, 0.5)},
    "one-coordinate": {"k": 3, "coordinates": ("log_energy",), "coordinate_scale": (1.5,)},
}


@pytest.mark.parametrize("changes", CASES.values(), ids=CASES.keys())
def test_python_and_cpp_tagger_build_the_reference_graphs(
    tagger_export, tmp_path: Path, changes: dict
) -> None:
    _, spec, path = tagger_export
    graph = dataclasses.replace(spec.graph, **changes)
    tagger = native.Tagger(str(model_with_graph(path, tmp_path / "m.onnx", graph)))
    rng = np.random.default_rng(7)
    sizes = [1, 2, 5, 1, 9, 30, 3]  # one-node graphs and graphs smaller than k
    x = rng.normal(size=(sum(sizes), 4)).astype(np.float32)
    x[3] = x[4]  # a duplicate node: ties go to the smaller index on every path
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    python = graphs_from_spec(x, ptr, graph)
    cpp_x, cpp_edges, cpp_batch = tagger.build_graphs(x, ptr)
    np.testing.assert_array_equal(python.edge_index, cpp_edges)
    np.testing.assert_array_equal(python.batch, cpp_batch)
    np.testing.assert_array_equal(python.x, cpp_x)
    assert python.num_graphs == len(sizes)

    columns = [graph.feature_names.index(c) for c in graph.coordinates]
    scale = np.asarray(graph.coordinate_scale or [1.0] * len(columns), np.float32)
    pos = np.ascontiguousarray(x[:, columns] * scale)
    expected = knn_reference(pos, ptr, graph.k, loop=graph.loop)
    np.testing.assert_array_equal(cpp_edges, expected)


def test_graphs_from_spec_refuses_what_the_cpp_builder_refuses() -> None:
    spec = GraphSpec(feature_names=("a", "b"), k=2, coordinates=("a",))
    x = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match="graph 1 has 0 nodes"):
        graphs_from_spec(x, [0, 2, 2, 4], spec)
    with pytest.raises(ValueError, match="'ptr' must start at 0 and end at the number of nodes"):
        graphs_from_spec(x, [0, 2, 5], spec)
    with pytest.raises(ValueError, match="3 features per node, the model expects 2"):
        graphs_from_spec(np.ones((4, 3), np.float32), [0, 4], spec)
    with pytest.raises(ValueError, match="asks for 'threshold' edges"):
        graphs_from_spec(x, [0, 4], dataclasses.replace(spec, builder="threshold"))
    with pytest.raises(TypeError, match="ptr must be a 1-D integer array"):
        graphs_from_spec(x, [0.0, 4.0], spec)
    empty = graphs_from_spec(np.zeros((0, 2), np.float32), [0], spec)
    assert empty.num_graphs == 0 and empty.edge_index.shape == (2, 0)


def test_each_spec_object_builds_its_own_graphs() -> None:
    """graphs_from_spec reads a spec once per spec object (cached): two specs in one process
    build their own edges, call after call, and a spec equal to a cached one but written
    differently (loop=1 == loop=True) is still refused by the C++ reader."""
    three = GraphSpec(feature_names=("a", "b"), k=3, coordinates=("a", "b"))
    five = dataclasses.replace(three, k=5)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(17, 2)).astype(np.float32)
    ptr = np.array([0, 8, 17])
    for _ in range(2):
        for spec in (three, five, three):
            edges = graphs_from_spec(x, ptr, spec).edge_index
            np.testing.assert_array_equal(edges, knn_reference(x, ptr, spec.k))
    looped = dataclasses.replace(three, loop=True)
    assert graphs_from_spec(x, ptr, looped).num_edges == 17 * 3
    assert dataclasses.replace(three, loop=1) == looped
    for _ in range(2):
        with pytest.raises(SpecError, match="'graph.loop' must be true or false, got 1"):
            graphs_from_spec(x, ptr, dataclasses.replace(three, loop=1))
    listed = GraphSpec(feature_names=["a", "b"], k=3, coordinates=["a", "b"])  # unhashable
    np.testing.assert_array_equal(
        graphs_from_spec(x, ptr, listed).edge_index, knn_reference(x, ptr, 3)
    )
