from __future__ import annotations

import numpy as np
import pytest

from e2e_gnn.graphs.batch import GraphBatch


def two_graphs() -> GraphBatch:
    x0 = np.arange(6, dtype=np.float32).reshape(3, 2)
    x1 = -np.arange(4, dtype=np.float32).reshape(2, 2)
    return GraphBatch.from_graphs([(x0, [[0, 1], [1, 2]]), (x1, [[1], [0]])], y=[1, 0])


def test_from_graphs_offsets_indices_and_builds_batch() -> None:
    batch = two_graphs()
    assert batch.num_graphs == 2
    assert batch.x.shape == (5, 2) and batch.x.dtype == np.float32
    np.testing.assert_array_equal(batch.edge_index, [[0, 1, 4], [1, 2, 3]])
    np.testing.assert_array_equal(batch.batch, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(batch.node_ptr, [0, 3, 5])
    batch.validate(num_features=2)


def test_graph_and_select_round_trip() -> None:
    batch = two_graphs()
    x1, edges1 = batch.graph(1)
    np.testing.assert_array_equal(edges1, [[1], [0]])
    swapped = batch.select([1, 0])
    np.testing.assert_array_equal(swapped.x[:2], x1)
    np.testing.assert_array_equal(swapped.edge_index, [[1, 2, 3], [0, 3, 4]])
    np.testing.assert_array_equal(swapped.y, [0, 1])


def test_graph_without_edges_is_legal() -> None:
    batch = GraphBatch.from_graphs([(np.ones((4, 3)), np.zeros((2, 0)))])
    assert batch.num_edges == 0
    batch.validate()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"edge_index": np.array([[0, 5], [1, 2]])}, r"'edge_index' has 5 at \[0, 1\], outside"),
        ({"edge_index": np.array([[0, -1], [1, 2]])}, r"'edge_index' has -1 at \[0, 1\]"),
        ({"edge_index": np.array([[0, 3], [1, 2]])}, r"connects node 3 \(graph 1\) to node 2"),
        ({"batch": np.array([0, 1, 0, 1, 1])}, r"'batch' goes from graph 1 to 0 at node 2"),
        ({"batch": np.array([1, 1, 1, 2, 2])}, r"'batch' starts with graph 1"),
        ({"x": np.array([[np.nan, 0]] * 5, np.float32)}, r"non-finite value nan at node 0"),
        ({"x": np.ones((5, 2))}, r"'x' must be a numpy float32 array, got float64"),
        ({"edge_index": np.zeros((3, 1), np.int64)}, r"'edge_index' has shape \[3, 1\]"),
        ({"batch": np.zeros(4, np.int64)}, r"'batch' has 4 entries, expected one per node \(5\)"),
    ],
)
def test_validate_names_the_problem(change: dict, message: str) -> None:
    batch = two_graphs()
    broken = GraphBatch(**{**batch.__dict__, **change})
    with pytest.raises((ValueError, TypeError), match=message):
        broken.validate()


def test_validate_checks_feature_width() -> None:
    with pytest.raises(ValueError, match="2 features per node, the model expects 4"):
        two_graphs().validate(num_features=4)
