"""plot_frames writes a readable PNG grid: rows = a few frames per class, columns = channels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from e2e_gnn.frames import plot_frames


def test_png_grid_has_one_row_per_example_and_one_column_per_channel(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.random((7, 3, 16, 16), dtype=np.float32)
    frames[:, 2] -= 0.5  # a signed channel (like d0)
    labels = np.array([0, 1, 0, 1, 0, 0, 1])
    path = plot_frames(
        frames,
        labels,
        ["ECAL", "HCAL", "TRK_D0"],
        tmp_path / "p" / "grid.png",
        per_class=2,
        class_names={0: "gluon", 1: "quark"},
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = imread(path)
    # 4 rows (2 per class) x 3 columns at 1.9 in per panel, 80 dpi
    assert img.shape[0] == pytest.approx((1.9 * 4 + 0.4) * 100, abs=2)
    assert img.shape[1] == pytest.approx((1.9 * 3 + 0.6) * 100, abs=2)


def test_layered_frames_plot_one_panel_per_layer(tmp_path: Path) -> None:
    frames = np.zeros((2, 1, 6, 15, 15), dtype=np.float32)
    frames[:, 0, :, 7, 7] = 1.0
    names = ["ECAL0", "ECAL1", "ECAL2", "HCAL0", "HCAL1", "HCAL2"]
    path = plot_frames(frames, np.array([0, 1]), names, tmp_path / "layers.png")
    assert imread(path).shape[1] == pytest.approx((1.9 * 6 + 0.6) * 100, abs=2)


def test_mismatched_inputs_are_refused(tmp_path: Path) -> None:
    frames = np.zeros((2, 3, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=r"do not match 2 channel names"):
        plot_frames(frames, np.array([0, 1]), ["A", "B"], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\(3,\) labels for 2 frames"):
        plot_frames(frames, np.array([0, 1, 1]), ["A", "B", "C"], tmp_path / "x.png")
