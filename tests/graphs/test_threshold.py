"""Layered threshold graphs (ATLAS displaced-photon GNN) against the NumPy reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e_gnn.graphs.builders import threshold_graph
from e2e_gnn.graphs.reference import threshold_reference


def test_small_example() -> None:
    pos = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float32)
    layer = np.array([0, 0, 1, 2])
    edge_index, distance = threshold_graph(pos, layer, same_layer=1.0, adjacent_layer=1.5)
    # 0-1 same layer (d = 1); 0-2, 1-2, 2-3 adjacent layers; 0-3 and 1-3 are two layers apart.
    np.testing.assert_array_equal(edge_index, [[1, 2, 0, 2, 0, 1, 3, 2], [0, 0, 1, 1, 2, 2, 2, 3]])
    np.testing.assert_allclose(distance[:, 0], [1, 1, 1, math.sqrt(2), 1, math.sqrt(2), 1, 1])
    assert distance.dtype == np.float32 and distance.shape == (8, 1)


@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("periodic", [None, 1])
def test_matches_reference(loop: bool, periodic: int | None) -> None:
    rng = np.random.default_rng(11)
    sizes = [0, 1, 2, 30, 150]
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    eta = rng.uniform(-0.4, 0.4, ptr[-1])
    phi = rng.uniform(-math.pi, math.pi, ptr[-1])
    pos = np.stack([eta, phi], axis=1).astype(np.float32)
    layer = rng.integers(0, 4, ptr[-1])
    got = threshold_graph(pos, layer, ptr, 0.5, 0.8, loop=loop, periodic=periodic)
    want = threshold_reference(pos, layer, ptr, 0.5, 0.8, loop=loop, periodic=periodic)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_phi_wrap_links_across_pi() -> None:
    pos = np.array([[0, 3.1], [0, -3.1]], dtype=np.float32)
    layer = np.zeros(2, dtype=np.int64)
    wrapped, distance = threshold_graph(pos, layer, same_layer=0.1, adjacent_layer=0.1, periodic=1)
    np.testing.assert_array_equal(wrapped, [[1, 0], [0, 1]])
    assert distance[0, 0] == pytest.approx(2 * math.pi - 6.2, abs=1e-6)
    plain, _ = threshold_graph(pos, layer, same_layer=0.1, adjacent_layer=0.1)
    assert plain.shape == (2, 0)


@settings(max_examples=50, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 60), min_size=1, max_size=4),
    dim=st.integers(1, 3),
    same=st.floats(-1, 3),
    adjacent=st.floats(-1, 3),
    loop=st.booleans(),
    grid=st.booleans(),
    periodic=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_fuzz_against_reference(
    sizes: list[int],
    dim: int,
    same: float,
    adjacent: float,
    loop: bool,
    grid: bool,
    periodic: bool,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    if grid:  # exact ties at the thresholds
        pos = rng.integers(-3, 4, (ptr[-1], dim)).astype(np.float32)
    else:
        pos = rng.uniform(-4, 4, (ptr[-1], dim)).astype(np.float32)
    layer = rng.integers(-1, 3, ptr[-1])
    axis = 0 if periodic else None
    got = threshold_graph(pos, layer, ptr, same, adjacent, loop=loop, periodic=axis)
    want = threshold_reference(pos, layer, ptr, same, adjacent, loop=loop, periodic=axis)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_bad_input() -> None:
    pos = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="layer has 2 entries"):
        threshold_graph(pos, np.zeros(2, np.int64), same_layer=1, adjacent_layer=1)
    with pytest.raises(TypeError, match="layer must be a 1-D integer"):
        threshold_graph(pos, np.zeros(3), same_layer=1, adjacent_layer=1)
    with pytest.raises(ValueError, match="same_layer = nan"):
        threshold_graph(pos, np.zeros(3, np.int64), same_layer=math.nan, adjacent_layer=1)
    with pytest.raises(ValueError, match=r"pos\[2\]\[1\]"):
        bad = pos.copy()
        bad[2, 1] = np.nan
        threshold_graph(bad, np.zeros(3, np.int64), same_layer=1, adjacent_layer=1)
