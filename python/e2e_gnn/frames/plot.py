"""Render frames to a PNG grid: a few examples per class (rows) by channel (columns)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_frames"]


def plot_frames(
    frames: np.ndarray,
    labels: np.ndarray,
    channel_names: Sequence[str],
    path: str | os.PathLike[str],
    *,
    per_class: int = 3,
    class_names: Mapping[int, str] | None = None,
    dpi: int = 100,
) -> Path:
    """Write a PNG grid of ``per_class`` frames of each label, one column per channel.

    ``frames`` is ``[B, C, H, W]``, or ``[B, C, L, H, W]`` (layered images; then
    ``channel_names`` names the C * L panels, channel-major). Rows are eta (up), columns phi
    (right). Empty pixels are white; each panel has its own colour scale: energies and
    counts on a log stretch (``log1p``, darker = more) so soft deposits still show; channels
    with negative values in any plotted frame (d0, dz) on a red-blue scale symmetric around 0.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

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
    names = dict(class_names or {})
    n_ch = data.shape[1]
    signed = [bool((data[[i for _, i in rows], c] < 0).any()) for c in range(n_ch)]
    cmaps = {
        True: colormaps["RdBu_r"].with_extremes(bad="white"),
        False: colormaps["magma_r"].with_extremes(bad="white"),
    }
    fig = Figure(figsize=(1.9 * n_ch + 0.6, 1.9 * len(rows) + 0.4))
    axes = fig.subplots(len(rows), n_ch, squeeze=False)
    for r, (cls, i) in enumerate(rows):
        for c in range(n_ch):
            ax = axes[r, c]
            img = np.ma.masked_equal(data[i, c], 0.0)
            peak = max(float(np.abs(data[i, c]).max()), 1e-12)
            if signed[c]:
                ax.imshow(
                    img,
                    cmap=cmaps[True],
                    vmin=-peak,
                    vmax=peak,
                    origin="lower",
                    interpolation="nearest",
                )
            else:
                ax.imshow(
                    np.log1p(img / peak * 100),
                    cmap=cmaps[False],
                    vmin=-1.0,
                    vmax=np.log1p(100),
                    origin="lower",
                    interpolation="nearest",
                )
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(channel_names[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{names.get(int(cls), f'label {int(cls)}')}\n#{i}", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out
