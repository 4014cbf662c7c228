"""Frames and hits to GraphBatch."""

from __future__ import annotations

import numpy as np
import pytest

from e2e_gnn.graphs.builders import knn_graph
from e2e_gnn.graphs.from_frames import graphs_from_frames, graphs_from_points


def test_nonzero_pixels_become_nodes() -> None:
    frames = np.zeros((2, 2, 5, 5), dtype=np.float32)
    frames[0, 0, 0, 0] = 1.0
    frames[0, 1, 2, 4] = 2.0
    frames[0, 0, 4, 2] = 3.0
    frames[1, 1, 2, 2] = 4.0
    batch = graphs_from_frames(frames, k=2)
    assert batch.num_graphs == 2
    np.testing.assert_array_equal(batch.batch, [0, 0, 0, 1])
    # (i - c) / c with c = 2, then the channel values.
    expected = [[-1, -1, 1, 0], [0, 1, 0, 2], [1, 0, 3, 0], [0, 0, 0, 4]]
    np.testing.assert_array_equal(batch.x, np.array(expected, dtype=np.float32))
    np.testing.assert_array_equal(batch.edge_index, knn_graph(batch.x[:, :2], [0, 3, 4], 2))
    assert batch.edge_index.shape == (2, 6)  # min(2, 3 - 1) per node of graph 0, none in 1


def test_empty_frame_keeps_its_centre_node() -> None:
    frames = np.zeros((3, 1, 4, 4), dtype=np.float32)
    frames[1, 0, 3, 3] = 5.0
    batch = graphs_from_frames(frames)
    np.testing.assert_array_equal(batch.batch, [0, 1, 2])
    np.testing.assert_array_equal(batch.x[[0, 2], 2], [0, 0])
    assert batch.edge_index.shape == (2, 0)


@pytest.mark.parametrize("edges", ["knn", "threshold", "delaunay"])
def test_builders_on_random_frames(edges: str) -> None:
    rng = np.random.default_rng(0)
    frames = rng.exponential(size=(4, 3, 16, 16)).astype(np.float32)
    frames[frames < 1.5] = 0.0
    batch = graphs_from_frames(
        frames, edges=edges, k=4, same_layer=0.2, adjacent_layer=0.2, threads=2
    )
    batch.validate(num_features=5)
    counts = np.count_nonzero(np.any(frames != 0, axis=1).reshape(4, -1), axis=1)
    np.testing.assert_array_equal(np.bincount(batch.batch), counts)
    if edges == "knn":
        assert batch.num_edges == 4 * batch.num_nodes


def test_layered_frames_use_the_layer() -> None:
    frames = np.zeros((1, 1, 3, 3, 3), dtype=np.float32)  # [B, C, L, H, W]
    frames[0, 0, 0, 1, 1] = 1.0
    frames[0, 0, 1, 1, 1] = 1.0
    frames[0, 0, 2, 1, 1] = 1.0
    batch = graphs_from_frames(frames, edges="threshold", same_layer=0.5, adjacent_layer=0.5)
    np.testing.assert_array_equal(batch.x[:, 2], [0, 1, 2])  # layer index feature
    # Same position, layers 0-1 and 1-2 adjacent, 0-2 not.
    np.testing.assert_array_equal(batch.edge_index, [[1, 0, 2, 1], [0, 1, 1, 2]])


def test_points_need_a_node_per_graph() -> None:
    x = np.ones((3, 1), np.float32)
    pos = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="graph 1 has 0 nodes"):
        graphs_from_points(x, pos, [0, 3, 3])
    with pytest.raises(ValueError, match="edges must be"):
        graphs_from_points(x, pos, [0, 3], edges="radius")  # type: ignore[arg-type]


def test_bad_frames() -> None:
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        graphs_from_frames(np.zeros((2, 3, 4), np.float32))
    frames = np.zeros((1, 1, 2, 2), np.float32)
    frames[0, 0, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"frames\[0, 0, 1, 0\]"):
        graphs_from_frames(frames)
