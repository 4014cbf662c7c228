"""The input scale of the frame taggers, shared by every CNN in e2e_gnn.nn."""

from __future__ import annotations

import torch
from torch import Tensor


def channel_rms(frames: Tensor) -> Tensor:
    """Per channel of ``frames`` [B, C, ...], the root mean square of its non-zero pixels
    (1 for a channel without any): dividing by it makes hits of order one whatever the
    unit, and empty pixels stay zero (a mean subtracted would light up the whole frame)."""
    dims = (0, *range(2, frames.dim()))
    squares = frames.square().sum(dim=dims)
    hits = (frames != 0).sum(dim=dims)
    rms = (squares / hits.clamp(min=1)).sqrt()
    return torch.where(hits > 0, rms.clamp(min=1e-6), 1.0)
