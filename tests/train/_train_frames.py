"""A small frames file with a learnable toy task, written as `e2e-gnn frames` writes one.

Each frame holds an energy blob at a random spot near the centre: narrow for signal
(label 1), wide for background (label 0), with exponential energies and a readout
threshold, so frames are sparse like detector frames. Two frames per event; every
tenth frame is unlabelled (label -1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from e2e_gnn.io import write_frames

CHANNELS = ("ECAL", "HCAL", "tracks")
SIZE = 32


def toy_frames(num_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames float32 [B, 3, 32, 32], labels [B], events [B])."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, size=num_frames)
    label[::10] = -1
    rows, cols = np.mgrid[:SIZE, :SIZE]
    centre = SIZE / 2 + rng.normal(0, 2, size=(num_frames, 2))
    width = np.where(label == 1, 1.5, 4.0) * rng.uniform(0.8, 1.2, size=num_frames)
    distance2 = (rows - centre[:, 0, None, None]) ** 2 + (cols - centre[:, 1, None, None]) ** 2
    profile = np.exp(-distance2 / (2 * width[:, None, None] ** 2))
    scale = np.array([10.0, 3.0, 1.0])  # GeV-like: the channels differ in magnitude
    energy = rng.exponential(1.0, size=(num_frames, 3, SIZE, SIZE)) * profile[:, None]
    frames = energy * scale[None, :, None, None]
    frames[frames < 0.05 * scale[None, :, None, None]] = 0.0
    return frames.astype(np.float32), label.astype(np.int32), np.arange(num_frames) // 2


def write_toy_frames(path: Path, num_frames: int = 200, seed: int = 0) -> Path:
    frames, label, event = toy_frames(num_frames, seed)
    index = np.arange(num_frames) % 2  # the jet's index in its event
    return write_frames(path, frames, CHANNELS, label=label, event=event, index=index)


def toy_layered_frames(
    num_frames: int, seed: int = 0, layers: int = 3, size: int = 15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames float32 [B, 1, L, size, size] normalised to unit sum, labels [B], events [B]):
    a blob in every layer, at the same spot in all layers for background (label 0, a
    prompt shower) and drifting by a bin per layer for signal (label 1, a shower entering
    the layers at an angle). Every tenth frame is unlabelled."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, size=num_frames)
    label[::10] = -1
    rows, cols = np.mgrid[:size, :size]
    drift = np.where(label == 1, 1.0, 0.0)[:, None] * np.arange(layers)[None, :]
    centre_row = size // 2 + drift  # [B, L]
    centre_col = np.full_like(centre_row, size // 2)
    distance2 = (rows - centre_row[..., None, None]) ** 2
    distance2 = distance2 + (cols - centre_col[..., None, None]) ** 2
    energy = rng.exponential(1.0, size=(num_frames, layers, size, size)) * np.exp(-distance2 / 2)
    energy[energy < 0.05] = 0.0
    energy /= energy.sum(axis=(1, 2, 3), keepdims=True)
    return energy[:, None].astype(np.float32), label.astype(np.int32), np.arange(num_frames) // 2


def write_toy_layered_frames(path: Path, num_frames: int = 60, seed: int = 0) -> Path:
    frames, label, event = toy_layered_frames(num_frames, seed)
    index = np.arange(num_frames) % 2
    return write_frames(path, frames, ("CALO",), label=label, event=event, index=index)
