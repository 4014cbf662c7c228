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
    Points,
    crop_points,
    event_numbers,
    flat_collection,
    flat_hits,
    require_fields,
)

__all__ = ["JET_CHANNELS", "JET_CHANNEL_UNITS", "JetFrameProducer", "channel_points"]

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
#: the unit of each channel's values (generator schema v1 units: GeV, cm)
JET_CHANNEL_UNITS: dict[str, str] = {
    "ECAL": "GeV",
    "HCAL": "GeV",
    "TRK_PT": "GeV",
    "TRK_D0": "cm",
    "TRK_DZ": "cm",
    **{f"BPIX{i}": "hits" for i in range(1, geo.PIXEL_LAYERS + 1)},
}


def channel_points(events: ak.Array, channel: str, who: str) -> Points:
    """(entry, row, col, value) of everything that fills ``channel``, sorted by entry.

    Rows and columns are on the channel's own grid: ECAL units, except HCAL tower units for
    ``"HCAL"`` (see :mod:`~e2e_gnn.frames.geometry`).
    """
    if channel in ("ECAL", "HCAL"):
        h, entry, _ = flat_hits(events, ("eta", "phi", "energy", "subdet"), who)
        sel = h["subdet"] == (0 if channel == "ECAL" else 1)
        entry, eta, phi, e = entry[sel], h["eta"][sel], h["phi"][sel], h["energy"][sel]
        if channel == "ECAL":
            return entry, geo.ecal_row(eta), geo.ecal_col(phi), e
        return entry, geo.hcal_row(eta), geo.hcal_col(phi), e
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


def _hcal_frames(
    points: Points,
    obj_entry: np.ndarray,
    seed_row: np.ndarray,
    seed_col: np.ndarray,
    size: int,
    before: int,
) -> np.ndarray:
    """HCAL frames at ECAL granularity: tower crops upsampled 5 x 5, energy / 25 per crystal.

    The frame's first crystal row is 5 * seed + 2 - before; ``a`` is the tower holding it
    relative to the seed and ``o`` its offset inside that tower.
    """
    up = geo.HCAL_UPSAMPLE
    a, o = divmod(up // 2 - before, up)
    towers_needed = -(-(size + o) // up)
    n = len(obj_entry)
    towers = np.zeros((n, 1, towers_needed, towers_needed), dtype=np.float32)
    crop_points(towers, points, obj_entry, seed_row, seed_col, -a, geo.HCAL_NPHI)
    towers /= np.float32(up * up)
    shape = (n, towers_needed, up, towers_needed, up)
    fine = np.broadcast_to(towers[:, 0, :, None, :, None], shape).reshape(
        n, towers_needed * up, towers_needed * up
    )
    return fine[:, o : o + size, o : o + size]


def _stack_channels(
    events: ak.Array,
    channels: Sequence[str],
    obj_entry: np.ndarray,
    seed_row: np.ndarray,
    seed_col: np.ndarray,
    size: int,
    who: str,
) -> np.ndarray:
    up, before = geo.HCAL_UPSAMPLE, (size - 1) // 2
    center_row, center_col = seed_row * up + up // 2, seed_col * up + up // 2
    data = np.zeros((len(obj_entry), len(channels), size, size), dtype=np.float32)
    for c, name in enumerate(channels):
        points = channel_points(events, name, who)
        if name == "HCAL":
            data[:, c] = _hcal_frames(points, obj_entry, seed_row, seed_col, size, before)
        else:
            crop_points(data, points, obj_entry, center_row, center_col, before, geo.ECAL_NPHI, c)
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
            seed_row, seed_col = seed_row[fits], seed_col[fits]
            center_row, center_col = center_row[fits], center_col[fits]
        data = _stack_channels(events, channels, entry, seed_row, seed_col, self.size, who)
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
        w, half = self.seed_window, self.seed_window // 2
        window = np.zeros((len(entry), 1, w, w), dtype=np.float32)
        points = channel_points(events, "HCAL", who)
        crop_points(window, points, entry, axis_row, axis_col, half, geo.HCAL_NPHI)
        flat = window.reshape(len(entry), w * w)
        best = np.argmax(flat, axis=1)  # first maximum: ties go to the lower (row, col)
        best[flat.max(axis=1, initial=0.0) <= 0.0] = half * w + half  # empty: the jet axis
        seed_row = axis_row + best // w - half
        seed_col = (axis_col + best % w - half) % geo.HCAL_NPHI
        return seed_row, seed_col
