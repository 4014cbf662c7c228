"""plot_frames writes a readable PNG grid: rows = a few frames per class, columns = channels,
eta/phi axes, one colour bar per channel, sparse channels drawn large enough to see."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import LogNorm, Normalize, SymLogNorm
from matplotlib.image import AxesImage, imread

from e2e_gnn.frames import plot_frames
from e2e_gnn.frames.plot import frames_figure

CRYSTAL_ETA, CRYSTAL_PHI = 0.0174, 2 * math.pi / 360  # the contract's ECAL crystal


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
    # 4 rows (2 per class) x 3 columns at 1.9 in per panel, plus axes and colour bars, 100 dpi
    assert img.shape[0] == pytest.approx((1.9 * 4 + 1.2) * 100, abs=2)
    assert img.shape[1] == pytest.approx((1.9 * 3 + 0.8) * 100, abs=2)


def _jet_like() -> np.ndarray:
    """Two 125 x 125 frames: a calorimeter channel spanning 3 decades, 5 x 5 blocks (HCAL
    towers), isolated signed track values and single pixel hits."""
    frames = np.zeros((2, 4, 125, 125), dtype=np.float32)
    frames[:, 0, 62, 62] = 50.0
    frames[:, 0, 70, 40] = 0.05
    frames[:, 1, 60:65, 60:65] = 0.4
    frames[:, 1, 20:25, 100:105] = 0.02
    frames[:, 2, 62, 62] = 0.003
    frames[:, 2, 10, 90] = -0.2
    frames[:, 3, [5, 62, 120], [7, 62, 3]] = 1.0
    return frames


def test_axes_are_delta_eta_phi_around_the_frame_centre() -> None:
    fig = frames_figure(_jet_like(), np.array([0, 1]), ["ECAL", "HCAL", "TRK_D0", "BPIX1"])
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 8
    # pixel 62 of 125 is the centre: the frame spans -62.5 .. +62.5 crystals
    for ax in panels:
        assert ax.get_xlim() == pytest.approx((-62.5 * CRYSTAL_PHI, 62.5 * CRYSTAL_PHI))
        assert ax.get_ylim() == pytest.approx((-62.5 * CRYSTAL_ETA, 62.5 * CRYSTAL_ETA))
    assert panels[-1].get_xlabel() == "\u0394\u03c6"
    assert panels[0].get_ylabel().endswith("\u0394\u03b7")


def test_one_colour_bar_per_channel_log_where_values_span_decades() -> None:
    names = ["ECAL", "HCAL", "TRK_D0", "BPIX1"]
    units = {"ECAL": "GeV", "HCAL": "GeV", "TRK_D0": "cm", "BPIX1": "hits"}
    fig = frames_figure(_jet_like(), np.array([0, 1]), names, units=units)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert [b.get_xlabel() for b in bars] == [
        "ECAL [GeV]",
        "HCAL [GeV]",
        "TRK_D0 [cm]",
        "BPIX1 [hits]",
    ]
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    norms = [(ax.images or ax.collections)[0].norm for ax in panels[:4]]
    assert isinstance(norms[0], LogNorm) and (norms[0].vmin, norms[0].vmax) == pytest.approx(
        (0.05, 50.0)
    )
    assert isinstance(norms[1], LogNorm) and (norms[1].vmin, norms[1].vmax) == pytest.approx(
        (0.02, 0.4)
    )
    assert isinstance(norms[2], SymLogNorm) and (norms[2].vmin, norms[2].vmax) == pytest.approx(
        (-0.2, 0.2)
    )
    assert type(norms[3]) is Normalize and (norms[3].vmin, norms[3].vmax) == (0.0, 1.0)


def test_sparse_channels_are_drawn_as_markers_and_labelled() -> None:
    fig = frames_figure(_jet_like(), np.array([0, 1]), ["ECAL", "HCAL", "TRK_D0", "BPIX1"])
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    first_row = panels[:4]
    assert [ax.get_title() for ax in first_row] == [
        "ECAL\n(enlarged markers)",
        "HCAL",
        "TRK_D0\n(enlarged markers)",
        "BPIX1\n(enlarged markers)",
    ]
    hcal = first_row[1]
    assert len(hcal.images) == 1 and isinstance(hcal.images[0], AxesImage)
    pixels = first_row[3]
    (markers,) = [c for c in pixels.collections if isinstance(c, PathCollection)]
    # one marker per hit, at the cell centres
    centres = sorted(map(tuple, np.round(markers.get_offsets() / [CRYSTAL_PHI, CRYSTAL_ETA])))
    assert centres == [(-59.0, 58.0), (-55.0, -57.0), (0.0, 0.0)]


def test_layered_frames_plot_one_panel_per_layer(tmp_path: Path) -> None:
    frames = np.zeros((2, 1, 6, 15, 15), dtype=np.float32)
    frames[:, 0, :, 7, 7] = 1.0
    names = ["ECAL0", "ECAL1", "ECAL2", "HCAL0", "HCAL1", "HCAL2"]
    path = plot_frames(frames, np.array([0, 1]), names, tmp_path / "layers.png")
    assert imread(path).shape[1] == pytest.approx((1.9 * 6 + 0.8) * 100, abs=2)
    fig = frames_figure(frames, np.array([0, 1]), names, cell=(0.1, 0.2), centre=7)
    assert fig.axes[0].get_xlim() == pytest.approx((-7.5 * 0.2, 7.5 * 0.2))
    assert fig.axes[0].images  # 15 bins are large enough: drawn as an image


def test_mismatched_inputs_are_refused(tmp_path: Path) -> None:
    frames = np.zeros((2, 3, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=r"do not match 2 channel names"):
        plot_frames(frames, np.array([0, 1]), ["A", "B"], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\(3,\) labels for 2 frames"):
        plot_frames(frames, np.array([0, 1, 1]), ["A", "B", "C"], tmp_path / "x.png")
