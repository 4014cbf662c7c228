"""The vectorised pairing and cropping helpers against plain-Python loops."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e_gnn.frames.base import accumulate_crops, pair_ranges, pairs_in_band


@st.composite
def _events(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_events = draw(st.integers(1, 4))
    obj_entry = np.sort(np.array(draw(st.lists(st.integers(0, n_events - 1), max_size=6)), int))
    elem_entry = np.sort(np.array(draw(st.lists(st.integers(0, n_events - 1), max_size=30)), int))
    coord = st.integers(-20, 20)  # integer rows: exact band edges
    obj_x = np.array(draw(st.lists(coord, min_size=len(obj_entry), max_size=len(obj_entry))))
    elem_x = np.array(draw(st.lists(coord, min_size=len(elem_entry), max_size=len(elem_entry))))
    return obj_entry, obj_x.astype(float), elem_entry, elem_x.astype(float)


@settings(max_examples=200, deadline=None)
@given(_events(), st.integers(0, 6), st.integers(0, 6))
def test_pairs_in_band_equals_brute_force(
    ev: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], below: int, above: int
) -> None:
    obj_entry, obj_x, elem_entry, elem_x = ev
    obj, elem = pairs_in_band(obj_entry, obj_x, elem_entry, elem_x, below, above)
    expected = sorted(
        (i, j)
        for i in range(len(obj_entry))
        for j in range(len(elem_entry))
        if elem_entry[j] == obj_entry[i] and obj_x[i] - below <= elem_x[j] <= obj_x[i] + above
    )
    assert sorted(zip(obj.tolist(), elem.tolist(), strict=True)) == expected
    assert np.all(np.diff(obj) >= 0)


def test_pairs_in_band_refuses_nan_coordinates() -> None:
    with pytest.raises(ValueError, match=r"element 1 \(entry 0\) has coordinate nan"):
        pairs_in_band(
            np.array([0]), np.array([0.0]), np.array([0, 0]), np.array([0.1, np.nan]), 1.0, 1.0
        )


def test_pair_ranges() -> None:
    obj, elem = pair_ranges(np.array([2, 5, 0]), np.array([4, 5, 1]))
    assert list(zip(obj.tolist(), elem.tolist(), strict=True)) == [(0, 2), (0, 3), (2, 0)]


def test_accumulate_crops_matches_a_loop() -> None:
    rng = np.random.default_rng(7)
    n, size, before, nphi = 3, 6, 2, 20
    center_row = rng.integers(0, 30, n)
    center_col = rng.integers(0, nphi, n)
    m = 400
    obj = rng.integers(0, n, m)
    row = center_row[obj] + rng.integers(-4, 6, m)
    col = rng.integers(0, nphi, m)
    value = rng.random(m).astype(np.float32)
    out = np.zeros((n, 2, size, size), dtype=np.float32)
    accumulate_crops(
        out, center_row, center_col, obj, row, col, value, before=before, nphi=nphi, channel=1
    )
    expected = np.zeros((n, size, size), dtype=np.float64)
    for o, r, c, v in zip(obj, row, col, value, strict=True):
        fr = r - center_row[o] + before
        dc = (c - center_col[o]) % nphi
        dc = dc - nphi if dc >= nphi // 2 else dc
        fc = dc + before
        if 0 <= fr < size and 0 <= fc < size:
            expected[o, fr, fc] += v
    assert out[:, 0].sum() == 0.0
    np.testing.assert_allclose(out[:, 1], expected, rtol=1e-5, atol=1e-6)


def test_io_and_frames_never_import_torch() -> None:
    """Inference runs without torch: ingest and frame production must not pull it in."""
    code = (
        "import sys, e2e_gnn.io, e2e_gnn.frames, e2e_gnn.frames.cli; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=120).returncode == 0
