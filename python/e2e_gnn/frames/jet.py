"""CMS E2E style jet frames: 125 x 125 multichannel images around each jet.

Follows RecoE2E's JetFrameProducer: the frame is centred on the most energetic HCAL tower in
a 7 x 7 tower window around the jet axis (the jet axis tower when the window holds no HCAL
energy), at ECAL crystal granularity, with HCAL towers upsampled 5 x 5 (each tower's energy
spread evenly over its 25 crystals, so channel sums are conserved).

Channels (``JET_CHANNELS``): ``ECAL`` and ``HCAL`` energy (GeV, summed over depth layers),
``TRK_PT``, ``TRK_D0``, ``TRK_DZ`` (sum of track pT / d0 / dz of the tracks whose direction
falls in the crystal: tracks rarely share one) and ``BPIX1``-``BPIX4`` (pixel hit counts per
barrel layer).

Acceptance edge (a documented choice): our barrel spans only 170 crystal rows, so a
125-row frame sticks out of it for any jet with |eta| > ~0.4. With ``edge="pad"`` (default)
such frames are kept and the rows outside the barrel are zero, exactly what a detector with
no cells there records; with ``edge="drop"`` they are dropped and counted in
``Frames.dropped["frame_beyond_acceptance"]``. Jets whose axis is outside the barrel
(|eta| >= 1.479) cannot be seeded and are always dropped, counted as ``"outside_acceptance"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import awkward as ak
import numpy as np

from e2e_gnn.frames import geometry as geo
from e2e_gnn.frames.base import (
    Frames,
    crop_frames,
    event_numbers,
    flat_collection,
    pair_index,
    require_fields,
)

__all__ = ["JET_CHANNELS", "JetFrameProducer", "channel_points"]

JET_CHANNELS: tuple[str, ...] = (
    "ECAL",
    "HCAL",
    "TRK_PT",
    "TRK_D0",
    "TRK_DZ",
    "BPIX1",
    "BPIX2",
    "BPIX3",
    "BPIX4",
)

Points = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # entry, row, col, value


def channel_points(events: ak.Array, channel: str, who: str) -> Points:
    """(entry, ECAL row, ECAL col, value) of everything that fills ``channel``."""
    if channel in ("ECAL", "HCAL"):
        require_fields(events, "hits", ("eta", "phi", "energy", "subdet"), who)
        h, entry, _ = flat_collection(events, "hits", ("eta", "phi", "energy", "subdet"))
        sel = h["subdet"] == (0 if channel == "ECAL" else 1)
        entry, eta, phi, e = entry[sel], h["eta"][sel], h["phi"][sel], h["energy"][sel]
        if channel == "ECAL":
            return entry, geo.ecal_row(eta), geo.ecal_col(phi), e
        up = geo.HCAL_UPSAMPLE
        sub = np.arange(up * up)
        row = (geo.hcal_row(eta) * up)[:, None] + sub[None, :] // up
        col = (geo.hcal_col(phi) * up)[:, None] + sub[None, :] % up
        value = np.repeat(e / (up * up), up * up)
        return np.repeat(entry, up * up), row.ravel(), col.ravel(), value
    if channel.startswith("TRK_"):
        name = {"TRK_PT": "pt", "TRK_D0": "d0", "TRK_DZ": "dz"}[channel]
        require_fields(events, "tracks", ("eta", "phi", name), who)
        t, entry, _ = flat_collection(events, "tracks", ("eta", "phi", name))
        return entry, geo.ecal_row(t["eta"]), geo.ecal_col(t["phi"]), t[name]
    layer = int(channel[len("BPIX") :]) - 1
    require_fields(events, "pixel_hits", ("eta", "phi", "layer"), who)
    p, entry, _ = flat_collection(events, "pixel_hits", ("eta", "phi", "layer"))
    sel = p["layer"] == layer
    ones = np.ones(int(sel.sum()), dtype=np.float32)
    return entry[sel], geo.ecal_row(p["eta"][sel]), geo.ecal_col(p["phi"][sel]), ones


def _check_channels(channels: Sequence[str], known: Sequence[str], who: str) -> tuple[str, ...]:
    bad = [c for c in channels if c not in known]
    if bad or not channels:
        msg = f"{who}: unknown or no channels {list(channels)!r}; choose from {known}"
        raise ValueError(msg)
    return tuple(channels)


def _stack_channels(
    events: ak.Array,
    channels: Sequence[str],
    obj_entry: np.ndarray,
    center_row: np.ndarray,
    center_col: np.ndarray,
    size: int,
    who: str,
) -> np.ndarray:
    n = len(obj_entry)
    data = np.zeros((n, len(channels), size, size), dtype=np.float32)
    for c, name in enumerate(channels):
        entry, row, col, value = channel_points(events, name, who)
        offsets = np.searchsorted(entry, np.arange(len(events) + 1))
        obj, elem = pair_index(obj_entry, offsets)
        data[:, c] = crop_frames(
            n, size, center_row, center_col, obj, row[elem], col[elem], value[elem]
        )
    return data


@dataclass(frozen=True)
class JetFrameProducer:
    """125 x 125 multichannel frames around each jet, seeded on the max HCAL tower.

    Args:
        size: frame side in crystals (default: 125).
        channels: subset of ``JET_CHANNELS`` in the order wanted.
        seed_window: side of the HCAL tower window searched for the seed (default: 7).
        edge: ``"pad"`` (keep frames crossing the acceptance edge, zero outside) or
            ``"drop"`` (drop them, counted).
        collection: the jet collection of the events (default: ``"jets"``).
    """

    size: int = 125
    channels: tuple[str, ...] = JET_CHANNELS
    seed_window: int = 7
    edge: Literal["pad", "drop"] = "pad"
    collection: str = "jets"

    def __call__(self, events: ak.Array) -> Frames:
        who = type(self).__name__
        channels = _check_channels(self.channels, JET_CHANNELS, who)
        if self.edge not in ("pad", "drop"):
            msg = f"{who}: edge must be 'pad' or 'drop', got {self.edge!r}"
            raise ValueError(msg)
        if self.seed_window < 1 or self.seed_window % 2 == 0:
            msg = f"{who}: seed_window must be odd and >= 1, got {self.seed_window!r}"
            raise ValueError(msg)
        require_fields(events, self.collection, ("eta", "phi"), who)
        fields = ["eta", "phi"] + (["label"] if "label" in events[self.collection].fields else [])
        jets, entry, _ = flat_collection(events, self.collection, fields)
        index = ak.to_numpy(ak.flatten(ak.local_index(events[self.collection], axis=1)))
        label = jets["label"] if "label" in jets else np.full(len(entry), -1)
        dropped = {}
        inside = np.abs(jets["eta"]) < geo.BARREL_ETA_MAX
        dropped["outside_acceptance"] = int((~inside).sum())
        eta, phi, entry, index, label = (
            jets["eta"][inside],
            jets["phi"][inside],
            entry[inside],
            index[inside],
            label[inside],
        )
        seed_row, seed_col = self._seed_towers(events, entry, eta, phi, who)
        up, before = geo.HCAL_UPSAMPLE, (self.size - 1) // 2
        center_row = seed_row * up + up // 2
        center_col = seed_col * up + up // 2
        if self.edge == "drop":
            fits = (center_row - before >= 0) & (center_row - before + self.size <= geo.ECAL_NETA)
            dropped["frame_beyond_acceptance"] = int((~fits).sum())
            entry, index, label = entry[fits], index[fits], label[fits]
            center_row, center_col = center_row[fits], center_col[fits]
        data = _stack_channels(events, channels, entry, center_row, center_col, self.size, who)
        return Frames(
            data=data,
            channel_names=channels,
            label=label.astype(np.int32),
            event=event_numbers(events)[entry],
            index=index.astype(np.int64),
            center=np.stack([center_row, center_col], axis=1).astype(np.int64),
            dropped=dropped,
        )

    def _seed_towers(
        self, events: ak.Array, entry: np.ndarray, eta: np.ndarray, phi: np.ndarray, who: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """HCAL (row, col) of the most energetic tower in the window around each jet axis."""
        axis_row, axis_col = geo.hcal_row(eta), geo.hcal_col(phi)
        n, w = len(entry), self.seed_window
        half = w // 2
        require_fields(events, "hits", ("eta", "phi", "energy", "subdet"), who)
        h, hit_entry, _ = flat_collection(events, "hits", ("eta", "phi", "energy", "subdet"))
        hcal = h["subdet"] == 1
        offsets = np.searchsorted(hit_entry[hcal], np.arange(len(events) + 1))
        jet, hit = pair_index(entry, offsets)
        dr = geo.hcal_row(h["eta"][hcal])[hit] - axis_row[jet]
        dc = (geo.hcal_col(h["phi"][hcal])[hit] - axis_col[jet] + geo.HCAL_NPHI // 2) % (
            geo.HCAL_NPHI
        ) - geo.HCAL_NPHI // 2
        near = (np.abs(dr) <= half) & (np.abs(dc) <= half)
        cell = (jet[near] * w + dr[near] + half) * w + dc[near] + half
        tower_e = np.bincount(
            cell, weights=h["energy"][hcal][hit][near].astype(np.float64), minlength=n * w * w
        ).reshape(n, w * w)
        best = np.argmax(tower_e, axis=1)  # first maximum: ties go to the lower (row, col)
        empty = tower_e.max(axis=1, initial=0.0) <= 0.0
        best[empty] = (w * w) // 2  # no HCAL energy in the window: seed on the jet axis
        seed_row = axis_row + best // w - half
        seed_col = (axis_col + best % w - half) % geo.HCAL_NPHI
        return seed_row, seed_col
