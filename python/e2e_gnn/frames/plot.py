"""Render frames to a PNG grid: a few examples per class (rows) by channel (columns)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from e2e_gnn.frames import geometry as geo

if TYPE_CHECKING:  # matplotlib loads when a plot is drawn
    from matplotlib.figure import Figure

__all__ = ["frames_figure", "plot_frames"]

# a cell narrower than _MIN_CELL_INCHES (one crystal of a 125-crystal panel is ~1.4 screen
# pixels) is drawn as a marker of _MARKER_AREA points^2 (~3.5 pixels wide at 100 dpi),
# unless the channel is coarser than its grid (HCAL towers upsampled 5 x 5): when
# _BLOCKY_SHARE of its non-zero cells have 3 or more non-zero neighbours
_MIN_CELL_INCHES = 0.03
_MARKER_AREA = 10.0
_BLOCKY_SHARE = 0.9
_DECADES = 4  # log colour scales span at most this many decades below the maximum


def plot_frames(
    frames: np.ndarray,
    labels: np.ndarray,
    channel_names: Sequence[str],
    path: str | os.PathLike[str],
    *,
    per_class: int = 3,
    class_names: Mapping[int, str] | None = None,
    units: Mapping[str, str] | None = None,
    cell: tuple[float, float] = (geo.ECAL_DETA, geo.ECAL_DPHI),
    centre: int | None = None,
    dpi: int = 100,
) -> Path:
    """Write the :func:`frames_figure` of the frames to the PNG file ``path``."""
    fig = frames_figure(
        frames,
        labels,
        channel_names,
        per_class=per_class,
        class_names=class_names,
        units=units,
        cell=cell,
        centre=centre,
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out


def frames_figure(
    frames: np.ndarray,
    labels: np.ndarray,
    channel_names: Sequence[str],
    *,
    per_class: int = 3,
    class_names: Mapping[int, str] | None = None,
    units: Mapping[str, str] | None = None,
    cell: tuple[float, float] = (geo.ECAL_DETA, geo.ECAL_DPHI),
    centre: int | None = None,
) -> Figure:
    """A grid of ``per_class`` frames of each label, one column per channel.

    ``frames`` is ``[B, C, H, W]``, or ``[B, C, L, H, W]`` (layered images; then
    ``channel_names`` names the C * L panels, channel-major). Axes are eta (up) and phi
    (right) relative to the frame centre (the seed cell the producer centred the frame on):
    pixel ``(i, j)`` sits at ``((i - centre) * cell[0], (j - centre) * cell[1])``, with
    ``centre`` the middle pixel ``(side - 1) // 2`` by default (the jet and e/gamma
    producers' convention; layered images use ``bins // 2``) and ``cell`` the pixel size in
    eta and phi (default: one ECAL crystal).

    Every column shares one colour scale, shown by a colour bar labelled with the channel
    and its unit from ``units``: logarithmic when the non-zero values span more than a
    decade (at most 4 decades are shown; smaller values take the lowest colour), symmetric
    around 0 (red-blue, symmetric-log when spanning decades) for channels with negative
    values (d0, dz). Empty cells are white. When a cell would be too small to see (the
    125-crystal jet frames), the cells of each channel are drawn as square markers much
    larger than a cell, their column title saying "(enlarged markers)"; channels coarser
    than the grid (HCAL towers spread over 5 x 5 crystals) stay images. The figure is a
    bare matplotlib ``Figure`` (no pyplot: no global backend or figure state).
    """
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm, SymLogNorm
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    data = np.asarray(frames, dtype=np.float32)
    if data.ndim == 5:
        data = data.reshape(data.shape[0], -1, *data.shape[3:])
    if data.ndim != 4 or data.shape[1] != len(channel_names):
        msg = (
            f"plot_frames: frames of shape {np.shape(frames)} do not match "
            f"{len(channel_names)} channel names; expected [B, C, H, W] or [B, C, L, H, W] "
            "with one name per C (x L) panel"
        )
        raise ValueError(msg)
    labels = np.asarray(labels)
    if labels.shape != (data.shape[0],):
        msg = f"plot_frames: {labels.shape} labels for {data.shape[0]} frames"
        raise ValueError(msg)
    if data.shape[0] == 0:
        msg = "plot_frames: no frames to plot"
        raise ValueError(msg)
    rows = [(c, i) for c in np.unique(labels) for i in np.flatnonzero(labels == c)[:per_class]]
    shown = data[[i for _, i in rows]]
    names = dict(class_names or {})
    units = dict(units or {})
    height, width = shown.shape[2:]
    row0 = (height - 1) // 2 if centre is None else centre
    col0 = (width - 1) // 2 if centre is None else centre
    deta, dphi = cell
    extent = (
        (-col0 - 0.5) * dphi,
        (width - col0 - 0.5) * dphi,
        (-row0 - 0.5) * deta,
        (height - row0 - 0.5) * deta,
    )
    n_ch = shown.shape[1]
    fig = Figure(figsize=(1.9 * n_ch + 0.8, 1.9 * len(rows) + 1.2), layout="constrained")
    axes = fig.subplots(len(rows), n_ch, squeeze=False, sharex=True, sharey=True)
    for c in range(n_ch):
        values = shown[:, c]
        norm, signed = _norm(values)
        cmap = colormaps["RdBu_r" if signed else "viridis"].with_extremes(bad="white")
        if not signed:
            cmap = cmap.with_extremes(bad="white", under=cmap(0.0))
        markers = 1.9 / width < _MIN_CELL_INCHES and _blocky_share(values) < _BLOCKY_SHARE
        mappable: Any = None
        for r, (cls, i) in enumerate(rows):
            ax = axes[r, c]
            img = shown[r, c]
            if markers:
                y, x = np.nonzero(img)
                v = img[y, x]
                order = np.argsort(np.abs(v), kind="stable")  # largest on top
                mappable = ax.scatter(
                    (x[order] - col0) * dphi,
                    (y[order] - row0) * deta,
                    c=v[order],
                    cmap=cmap,
                    norm=norm,
                    s=_MARKER_AREA,
                    marker="s",
                    edgecolors="black",
                    linewidths=0.3,
                )
            else:
                mappable = ax.imshow(
                    np.ma.masked_equal(img, 0.0),
                    cmap=cmap,
                    norm=norm,
                    origin="lower",
                    interpolation="nearest",
                    extent=extent,
                )
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
            ax.set_aspect("equal")
            ax.tick_params(labelsize=7)
            if r == 0:
                title = channel_names[c] + ("\n(enlarged markers)" if markers else "")
                ax.set_title(title, fontsize=9)
            if c == 0:
                ax.set_ylabel(
                    f"{names.get(int(cls), f'label {int(cls)}')} #{i}\n\u0394\u03b7", fontsize=8
                )
            if r == len(rows) - 1:
                ax.set_xlabel("\u0394\u03c6", fontsize=8)
        unit = units.get(channel_names[c])
        bar = fig.colorbar(
            mappable, ax=axes[:, c], location="bottom", fraction=0.02, pad=0.01, aspect=12
        )
        bar.set_label(channel_names[c] + (f" [{unit}]" if unit else ""), fontsize=8)
        bar.ax.tick_params(labelsize=7)
        if isinstance(norm, SymLogNorm):
            decade = 10.0 ** np.floor(np.log10(float(norm.vmax)))
            bar.set_ticks([-decade, 0.0, decade])
        elif isinstance(norm, LogNorm):
            bar.ax.xaxis.set_minor_formatter(NullFormatter())
    return fig


def _norm(values: np.ndarray) -> tuple[Any, bool]:
    """The colour normalisation of one channel's plotted values, and whether it is signed."""
    from matplotlib.colors import LogNorm, Normalize, SymLogNorm

    nonzero = np.abs(values[values != 0])
    if nonzero.size == 0:
        return Normalize(0.0, 1.0), False
    peak, low = float(nonzero.max()), float(nonzero.min())
    floor = max(low, peak * 10.0**-_DECADES)
    spans_decades = peak > 10.0 * floor
    if (values < 0).any():
        if spans_decades:
            return SymLogNorm(linthresh=floor, vmin=-peak, vmax=peak, base=10), True
        return Normalize(-peak, peak), True
    if spans_decades:
        return LogNorm(floor, peak), False
    return Normalize(0.0, peak), False


def _blocky_share(values: np.ndarray) -> float:
    """Share of the non-zero cells of ``values`` [B, H, W] with 3 or more non-zero cells
    among their 8 neighbours."""
    filled = values != 0
    total = int(filled.sum())
    if total == 0:
        return 0.0
    padded = np.pad(filled, ((0, 0), (1, 1), (1, 1)))
    h, w = filled.shape[1:]
    neighbours = np.zeros(filled.shape, dtype=np.int32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                neighbours += padded[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    return float((filled & (neighbours >= 3)).sum()) / total
