"""GraphBatch.from_graphs refuses edge arrays it would otherwise scramble or truncate."""

from __future__ import annotations

import numpy as np
import pytest

from e2e_gnn.graphs.batch import GraphBatch

X = np.ones((3, 2), np.float32)


def test_pairs_per_row_are_refused_not_reshaped() -> None:
    # [E, 2]: reshape(2, -1) turned (0, 1), (1, 2), (2, 0) into (0, 2), (1, 1), (1, 2), (2, 0)
    pairs = np.array([[0, 1], [1, 2], [2, 0]])
    with pytest.raises(
        ValueError, match=r"graph 0: edge_index must be \[2, E\].*\[3, 2\].*edges\.T"
    ):
        GraphBatch.from_graphs([(X, pairs)])
    batch = GraphBatch.from_graphs([(X, pairs.T)])
    np.testing.assert_array_equal(batch.edge_index, pairs.T)


def test_float_indices_are_refused_not_truncated() -> None:
    with pytest.raises(TypeError, match=r"graph 1: edge_index must hold integers, got float64"):
        GraphBatch.from_graphs([(X, [[0], [1]]), (X, [[0.0, 1.7], [1.0, 2.0]])])


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([[0, 3], [1, 4]], r"graph 0: edge 1 \(3, 4\) is outside the graph's 3 nodes \[0, 3\)"),
        ([[-1], [-1]], r"graph 0: edge 0 \(-1, -1\) is outside"),
    ],
)
def test_indices_outside_the_graph_are_refused(edges, message) -> None:
    # (3, 4) of a 3-node graph would land in the next graph and pass every later check
    with pytest.raises(ValueError, match=message):
        GraphBatch.from_graphs([(X, edges), (X, [[0], [1]])])


@pytest.mark.parametrize("empty", [[], np.zeros((2, 0)), np.zeros((0, 2), np.int64)])
def test_empty_edge_arrays_are_graphs_without_edges(empty) -> None:
    batch = GraphBatch.from_graphs([(X, empty), (X, [[0], [2]])])
    np.testing.assert_array_equal(batch.edge_index, [[3], [5]])
    batch.validate()
