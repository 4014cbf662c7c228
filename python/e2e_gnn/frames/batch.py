"""FrameBatch: the images of a frame model, as training, export and ``infer`` take them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FrameBatch"]


@dataclass(frozen=True)
class FrameBatch:
    """Images of a frame model, float32 [B, C, H, W], and optional per-image labels [B]."""

    frames: np.ndarray
    y: np.ndarray | None = None

    def __len__(self) -> int:
        """The number of images."""
        return int(self.frames.shape[0])

    def inputs(self) -> dict[str, np.ndarray]:
        """The model inputs by name (the FRAME_INPUTS contract of e2e_gnn.spec)."""
        return {"frames": np.ascontiguousarray(self.frames, dtype=np.float32)}

    def select(self, order: Sequence[int]) -> FrameBatch:
        """A new batch holding the images ``order`` in that order (repeats allowed)."""
        return FrameBatch(self.frames[order], None if self.y is None else self.y[order])

    def describe(self) -> str:
        return f"{len(self)} images {list(self.frames.shape[1:])}"
