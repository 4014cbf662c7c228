"""kNN graphs: the native builder against the NumPy reference, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e_gnn.graphs.builders import knn_graph
from e2e_gnn.graphs.reference import knn_reference


def ragged(rng: np.random.Generator, sizes: list[int], dim: int, grid: bool) -> tuple:
    """Positions of graphs with the given sizes; integer grid coordinates make exact ties."""
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    if grid:
        pos = rng.integers(-4, 5, size=(ptr[-1], dim)).astype(np.float32)
    else:
        pos = rng.normal(size=(ptr[-1], dim)).astype(np.float32)
    return pos, ptr


def degrees(edge_index: np.ndarray, num_nodes: int) -> np.ndarray:
    return np.bincount(edge_index[1], minlength=num_nodes)


@pytest.mark.parametrize("grid", [False, True], ids=["float", "ties"])
@pytest.mark.parametrize("loop", [False, True], ids=["no_loop", "loop"])
@pytest.mark.parametrize("dim", [1, 2, 3, 5])
def test_matches_reference(grid: bool, loop: bool, dim: int) -> None:
    rng = np.random.default_rng(dim + 10 * loop + 100 * grid)
    # Sizes cover empty graphs, n = 1, n < k, n = k and grids of large graphs.
    pos, ptr = ragged(rng, [0, 1, 2, 5, 16, 17, 40, 0, 120, 400], dim, grid)
    for k in (1, 3, 16):
        got = knn_graph(pos, ptr, k, loop=loop)
        np.testing.assert_array_equal(got, knn_reference(pos, ptr, k, loop=loop))


@pytest.mark.parametrize("spread", [0.3, 1.5, 3.2], ids=["jet", "wide", "full"])
def test_periodic_phi(spread: float) -> None:
    """phi wraps at +-pi; graphs straddling the boundary and covering the circle."""
    rng = np.random.default_rng(7)
    n = 300
    eta = rng.normal(size=n)
    phi = math.pi + rng.uniform(-spread, spread, size=n)
    phi = np.where(phi > math.pi, phi - 2 * math.pi, phi)
    pos = np.stack([eta, phi], axis=1).astype(np.float32)
    ptr = np.array([0, 100, 300])
    got = knn_graph(pos, ptr, 8, periodic=1)
    np.testing.assert_array_equal(got, knn_reference(pos, ptr, 8, periodic=1))
    # A node at phi = pi - 0.01 has its nearest neighbour across the boundary.
    edge = knn_graph(np.array([[0, 3.13], [0, 2.5], [0, -3.13]], np.float32), k=1, periodic=1)
    assert edge[0, 0] == 2


def test_fixed_degree_and_target_sorted() -> None:
    rng = np.random.default_rng(3)
    pos, ptr = ragged(rng, [30, 7, 200, 1], 2, grid=False)
    k = 16
    edge_index = knn_graph(pos, ptr, k)
    sizes = np.diff(ptr)
    expected = np.repeat(np.minimum(k, sizes - 1), sizes)
    np.testing.assert_array_equal(degrees(edge_index, len(pos)), expected)
    assert np.all(np.diff(edge_index[1]) >= 0)
    # Edges stay inside their graph.
    graph = np.repeat(np.arange(len(sizes)), sizes)
    np.testing.assert_array_equal(graph[edge_index[0]], graph[edge_index[1]])
    assert edge_index.dtype == np.int64 and edge_index.shape == (2, int(expected.sum()))


def test_loop_keeps_self_even_with_duplicates() -> None:
    pos = np.zeros((4, 2), dtype=np.float32)  # all at the same place: every distance ties
    edge_index = knn_graph(pos, k=2, loop=True)
    np.testing.assert_array_equal(edge_index, [[0, 1, 0, 1, 0, 2, 0, 3], [0, 0, 1, 1, 2, 2, 3, 3]])


def test_threads_give_identical_result() -> None:
    rng = np.random.default_rng(5)
    pos, ptr = ragged(rng, [500, 3, 700, 0, 90], 2, grid=True)
    single = knn_graph(pos, ptr, 16)
    np.testing.assert_array_equal(knn_graph(pos, ptr, 16, threads=2), single)
    np.testing.assert_array_equal(knn_graph(pos, ptr, 16, threads=7), single)


def test_no_nodes() -> None:
    edge_index = knn_graph(np.zeros((0, 2), np.float32), np.array([0, 0, 0]), 4)
    assert edge_index.shape == (2, 0) and edge_index.dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 130), min_size=1, max_size=4),
    dim=st.integers(1, 3),
    k=st.integers(1, 20),
    loop=st.booleans(),
    grid=st.booleans(),
    periodic=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_fuzz_against_reference(
    sizes: list[int], dim: int, k: int, loop: bool, grid: bool, periodic: bool, seed: int
) -> None:
    pos, ptr = ragged(np.random.default_rng(seed), sizes, dim, grid)
    axis = dim - 1 if periodic else None
    got = knn_graph(pos, ptr, k, loop=loop, periodic=axis)
    np.testing.assert_array_equal(got, knn_reference(pos, ptr, k, loop=loop, periodic=axis))


POS = np.zeros((3, 2), dtype=np.float32)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k": 0}, ValueError, "k = 0"),
        ({"k": -2}, ValueError, "k = -2"),
        ({"k": 2.5}, TypeError, "k must be an integer"),
        ({"ptr": [0, 2, 1, 3]}, ValueError, r"ptr\[2\] = 1 < ptr\[1\] = 2"),
        ({"ptr": [0, 2]}, ValueError, r"ptr\[1\] = 2, expected 3"),
        ({"ptr": [1, 3]}, ValueError, r"ptr\[0\] = 1, expected 0"),
        ({"ptr": np.zeros(0, np.int64)}, ValueError, "at least one entry"),
        ({"ptr": [0.0, 3.0]}, TypeError, "ptr must be a 1-D integer"),
        ({"pos": POS.astype(np.float64)}, TypeError, "float32"),
        ({"pos": [[0.0, 1.0]]}, TypeError, "float32"),
        ({"pos": np.zeros(3, np.float32)}, ValueError, "2 dimensions"),
        ({"pos": np.array([[0, 0], [np.nan, 1]], np.float32)}, ValueError, r"pos\[1\]\[0\]"),
        ({"pos": np.array([[0, np.inf]], np.float32)}, ValueError, "not finite"),
        ({"periodic": 2}, ValueError, "periodic = 2 is out of range"),
        ({"periodic": -1}, ValueError, "periodic must be None"),
        ({"periodic": 0, "period": 0.0}, ValueError, "period = 0"),
        ({"threads": 0}, ValueError, "threads = 0"),
    ],
)
def test_bad_input(kwargs: dict, error: type[Exception], match: str) -> None:
    args = {"pos": POS, "ptr": None, "k": 2} | kwargs
    with pytest.raises(error, match=match):
        knn_graph(**args)
