"""CMS E2E style electron/photon frames: 32 x 32 ECAL crops around each photon.

As in RecoE2E's EGFrameProducer the crop is centred on the photon's seed crystal: here the
most energetic ECAL crystal (energy summed over depth layers) within a ``seed_window`` x
``seed_window`` crystal window around the photon direction, or the crystal the photon points
at when the window is empty. A 32-crystal crop spans the seed -15 .. +16 in both directions.
Photons outside the barrel are dropped (counted as ``"outside_acceptance"``); crops crossing
the barrel edge are padded with zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from e2e_gnn.frames import geometry as geo
from e2e_gnn.frames.base import (
    Frames,
    crop_points,
    event_numbers,
    flat_collection,
    require_fields,
)
from e2e_gnn.frames.jet import channel_points

__all__ = ["EGFrameProducer"]


@dataclass(frozen=True)
class EGFrameProducer:
    """32 x 32 single-channel ECAL crops around each photon, centred on the seed crystal.

    Args:
        size: crop side in crystals (default: 32).
        seed_window: side of the crystal window searched for the seed (default: 5).
        collection: the photon collection of the events (default: ``"photons"``).
    """

    size: int = 32
    seed_window: int = 5
    collection: str = "photons"

    def __call__(self, events: ak.Array) -> Frames:
        who = type(self).__name__
        require_fields(events, self.collection, ("eta", "phi"), who)
        fields = ["eta", "phi"] + (["label"] if "label" in events[self.collection].fields else [])
        ph, entry, _ = flat_collection(events, self.collection, fields)
        index = ak.to_numpy(ak.flatten(ak.local_index(events[self.collection], axis=1)))
        label = ph["label"] if "label" in ph else np.full(len(entry), -1)
        inside = np.abs(ph["eta"]) < geo.BARREL_ETA_MAX
        dropped = {"outside_acceptance": int((~inside).sum())}
        entry, index, label = entry[inside], index[inside], label[inside]
        axis_row = geo.ecal_row(ph["eta"][inside])
        axis_col = geo.ecal_col(ph["phi"][inside])

        points = channel_points(events, "ECAL", who)
        n, w = len(entry), self.seed_window
        # seed: the window around the axis as a small crop, then its first maximum
        before = (w - 1) // 2
        window = np.zeros((n, 1, w, w), dtype=np.float32)
        crop_points(window, points, entry, axis_row, axis_col, before, geo.ECAL_NPHI)
        flat = window.reshape(n, w * w)
        best = np.argmax(flat, axis=1)
        best[flat.max(axis=1, initial=0.0) <= 0.0] = before * w + before  # empty: the axis
        center_row = axis_row + best // w - before
        center_col = (axis_col + best % w - before) % geo.ECAL_NPHI
        data = np.zeros((n, 1, self.size, self.size), dtype=np.float32)
        crop_points(
            data, points, entry, center_row, center_col, (self.size - 1) // 2, geo.ECAL_NPHI
        )
        return Frames(
            data=data,
            channel_names=("ECAL",),
            label=label.astype(np.int32),
            event=event_numbers(events)[entry],
            index=index.astype(np.int64),
            center=np.stack([center_row, center_col], axis=1).astype(np.int64),
            dropped=dropped,
        )
