"""What every frame producer shares: the Frames result and vectorised hit/object helpers.

Producers take one chunk of events from :func:`e2e_gnn.io.read_events` (an awkward record
array) and work on flat NumPy arrays: one Python loop per chunk or per channel, never per
hit or per object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from e2e_gnn.frames import geometry as geo

__all__ = [
    "Frames",
    "crop_frames",
    "event_numbers",
    "flat_collection",
    "pair_index",
    "require_fields",
]


@dataclass
class Frames:
    """A batch of dense frames with per-frame bookkeeping.

    ``data`` is float32 ``[B, C, H, W]`` (``[B, C, L, H, W]`` for layered images: C channels,
    L depth layers named by ``layer_names``). ``event`` holds the event number (the events'
    ``event`` field, else the entry index in the chunk), ``index`` the object's index in its
    collection, ``label`` its truth label (-1 when unknown), ``center`` the frame centre in
    ECAL units (row, col). ``dropped`` counts objects that got no frame, by reason.
    """

    data: np.ndarray
    channel_names: tuple[str, ...]
    label: np.ndarray
    event: np.ndarray
    index: np.ndarray
    center: np.ndarray
    dropped: dict[str, int] = field(default_factory=dict)
    layer_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def select(self, mask: np.ndarray) -> Frames:
        """The frames where ``mask`` is true (e.g. ``frames.label >= 0``)."""
        return Frames(
            self.data[mask],
            self.channel_names,
            self.label[mask],
            self.event[mask],
            self.index[mask],
            self.center[mask],
            dict(self.dropped),
            self.layer_names,
        )

    @staticmethod
    def concatenate(parts: Sequence[Frames]) -> Frames:
        """Join the frames of several chunks (summing their drop counts)."""
        if not parts:
            msg = "Frames.concatenate needs at least one Frames object"
            raise ValueError(msg)
        first = parts[0]
        for p in parts[1:]:
            if p.channel_names != first.channel_names or p.data.shape[1:] != first.data.shape[1:]:
                msg = (
                    f"cannot concatenate frames {p.channel_names!r} {p.data.shape[1:]} with "
                    f"{first.channel_names!r} {first.data.shape[1:]}"
                )
                raise ValueError(msg)
        dropped: dict[str, int] = {}
        for p in parts:
            for k, v in p.dropped.items():
                dropped[k] = dropped.get(k, 0) + v
        return Frames(
            np.concatenate([p.data for p in parts]),
            first.channel_names,
            np.concatenate([p.label for p in parts]),
            np.concatenate([p.event for p in parts]),
            np.concatenate([p.index for p in parts]),
            np.concatenate([p.center for p in parts]),
            dropped,
            first.layer_names,
        )


def require_fields(events: ak.Array, collection: str, fields: Sequence[str], who: str) -> None:
    """Raise a KeyError naming ``who`` if ``events.<collection>.<field>`` is missing."""
    if collection not in events.fields:
        msg = (
            f"{who} needs the collection {collection!r} but the events have {events.fields}; "
            "read them with a schema that maps it (e.g. schema 'e2e_gnn')"
        )
        raise KeyError(msg)
    have = events[collection].fields
    missing = [f for f in fields if f not in have]
    if missing:
        msg = f"{who} needs fields {missing!r} of collection {collection!r}, which has {have}"
        raise KeyError(msg)


def event_numbers(events: ak.Array) -> np.ndarray:
    """The ``event`` field as int64, or the entry index when the events carry none."""
    if "event" in events.fields:
        return np.asarray(ak.to_numpy(events["event"]), dtype=np.int64)
    return np.arange(len(events), dtype=np.int64)


def flat_collection(
    events: ak.Array, collection: str, fields: Sequence[str]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Flat NumPy arrays of the fields, the entry of each element, and per-event offsets."""
    coll = events[collection]
    counts = ak.to_numpy(ak.num(coll, axis=1)).astype(np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = {f: ak.to_numpy(ak.flatten(coll[f], axis=1)) for f in fields}
    entry = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    return flat, entry, offsets


def pair_index(obj_entry: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (object, element) pairs within the same event, as two flat index arrays.

    ``obj_entry[i]`` is the entry of object i; ``offsets`` are the per-event offsets of the
    elements (hits, tracks, ...). Objects are in order and elements in file order per object.
    """
    starts = offsets[obj_entry]
    counts = offsets[obj_entry + 1] - starts
    obj = np.repeat(np.arange(len(obj_entry), dtype=np.int64), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    elem = np.arange(int(counts.sum()), dtype=np.int64) - first + np.repeat(starts, counts)
    return obj, elem


def crop_frames(
    n: int,
    size: int,
    center_row: np.ndarray,
    center_col: np.ndarray,
    obj: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    value: np.ndarray,
) -> np.ndarray:
    """Sum ``value`` at ECAL-unit (row, col) into ``size x size`` crops around each centre.

    The crop of object i covers rows ``center_row[i] - (size - 1) // 2`` onwards (so 125 is
    centred, and 32 spans -15..+16) and columns likewise, wrapping around in phi. Rows
    outside the barrel stay zero (padding). Returns float32 ``[n, size, size]``.
    """
    before = (size - 1) // 2
    fr = row - center_row[obj] + before
    dc = (col - center_col[obj] + geo.ECAL_NPHI // 2) % geo.ECAL_NPHI - geo.ECAL_NPHI // 2
    fc = dc + before
    inside = (fr >= 0) & (fr < size) & (fc >= 0) & (fc < size)
    flat = (obj[inside] * size + fr[inside]) * size + fc[inside]
    out = np.bincount(flat, weights=value[inside].astype(np.float64), minlength=n * size * size)
    return out.reshape(n, size, size).astype(np.float32)
