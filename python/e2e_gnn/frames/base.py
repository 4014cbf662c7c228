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
    "Points",
    "accumulate_crops",
    "crop_points",
    "event_numbers",
    "file_entry",
    "flat_collection",
    "flat_hits",
    "pair_ranges",
    "pairs_in_band",
    "require_fields",
]


@dataclass
class Frames:
    """A batch of dense frames with per-frame bookkeeping.

    ``data`` is float32 ``[B, C, H, W]`` (``[B, C, L, H, W]`` for layered images: C channels,
    L depth layers named by ``layer_names``). ``event`` holds the event number (the events'
    ``event`` field, else the entry number in the file), ``index`` the object's index in its
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
    """The ``event`` field as int64, else the entry number in the file (``entry``, which
    :func:`e2e_gnn.io.read_events` adds to every event)."""
    for name in ("event", "entry"):
        if name in events.fields:
            return np.asarray(ak.to_numpy(events[name]), dtype=np.int64)
    # numbering by position would repeat the same ids in every chunk
    msg = (
        f"events with fields {events.fields} carry neither 'event' nor 'entry' to number the "
        "frames by; read them with e2e_gnn.io.read_events, or add an 'event' field"
    )
    raise KeyError(msg)


def file_entry(events: ak.Array, position: int) -> int:
    """The entry number in its file of ``events[position]`` (for error messages)."""
    if "entry" in events.fields:
        return int(events["entry"][position])
    return position


def flat_collection(
    events: ak.Array, collection: str, fields: Sequence[str]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Flat NumPy arrays of the fields, the entry of each element, and per-event offsets.

    Raises ValueError naming the collection, field and entry of any NaN or infinite value.
    """
    coll = events[collection]
    counts = ak.to_numpy(ak.num(coll, axis=1)).astype(np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = {f: ak.to_numpy(ak.flatten(coll[f], axis=1)) for f in fields}
    entry = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    for f, values in flat.items():
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            i = int(np.flatnonzero(~np.isfinite(values))[0])
            msg = (
                f"{collection}.{f} of event entry {file_entry(events, int(entry[i]))} (element "
                f"{i - int(offsets[entry[i]])}) is {float(values[i])!r}; frames need finite "
                "values: fix or filter the input"
            )
            raise ValueError(msg)
    return flat, entry, offsets


def flat_hits(
    events: ak.Array, fields: Sequence[str], who: str
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """``flat_collection`` of the calorimeter hits, with ``eta``/``phi`` taken from the file
    or, when a schema maps only cell indices, computed as the centres of cells
    ``ieta``/``iphi`` of sub-detector ``subdet`` (see :func:`geometry.cell_centre`)."""
    require_fields(events, "hits", [f for f in fields if f not in ("eta", "phi")], who)
    have = set(events["hits"].fields)
    wants_position = "eta" in fields or "phi" in fields
    if not wants_position or {"eta", "phi"} <= have:
        require_fields(events, "hits", fields, who)
        return flat_collection(events, "hits", fields)
    if not {"ieta", "iphi", "subdet"} <= have:
        msg = (
            f"{who} needs hit positions: fields 'eta' and 'phi', or 'ieta', 'iphi' and "
            f"'subdet'; collection 'hits' has {sorted(have)}"
        )
        raise KeyError(msg)
    base = [f for f in fields if f not in ("eta", "phi")]
    extra = [f for f in ("ieta", "iphi", "subdet") if f not in base]
    flat, entry, offsets = flat_collection(events, "hits", base + extra)
    flat["eta"], flat["phi"] = geo.cell_centre(flat["ieta"], flat["iphi"], flat["subdet"])
    return flat, entry, offsets


def pair_ranges(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (i, j) with ``starts[i] <= j < stops[i]``, as two flat int64 arrays."""
    counts = np.maximum(stops - starts, 0)
    obj = np.repeat(np.arange(len(starts), dtype=np.int64), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    elem = np.arange(int(counts.sum()), dtype=np.int64) - first + np.repeat(starts, counts)
    return obj, elem


def pairs_in_band(
    obj_entry: np.ndarray,
    obj_x: np.ndarray,
    elem_entry: np.ndarray,
    elem_x: np.ndarray,
    below: float,
    above: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(object, element) pairs of the same event with ``obj_x - below <= elem_x <= obj_x +
    above``: a sort and two binary searches, so the cost follows the pairs inside the band,
    not all pairs. Objects come in order; the elements of an object in increasing ``x``
    (ties in file order), so callers needing file order sort what they keep.

    ``x`` is a coordinate such as eta or a crystal row; it must be finite and |x| < 1e6.
    """
    bad = ~np.isfinite(elem_x) | (np.abs(elem_x) >= _SPAN / 2)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = (
            f"element {i} (entry {int(elem_entry[i])}) has coordinate {float(elem_x[i])!r}; "
            "expected a finite eta/row (NaN or inf in the input file?)"
        )
        raise ValueError(msg)
    order = np.lexsort((elem_x, elem_entry))
    key = elem_entry[order] * _SPAN + np.asarray(elem_x, dtype=np.float64)[order]
    base = obj_entry * _SPAN + np.asarray(obj_x, dtype=np.float64)
    lo = np.searchsorted(key, base - below, side="left")
    hi = np.searchsorted(key, base + above, side="right")
    obj, pos = pair_ranges(lo, hi)
    return obj, order[pos]


_SPAN = 2.0e6  # entry stride of the sort key in pairs_in_band

Points = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # entry, row, col, value


def accumulate_crops(
    out: np.ndarray,
    center_row: np.ndarray,
    center_col: np.ndarray,
    obj: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    value: np.ndarray,
    *,
    before: int,
    nphi: int = geo.ECAL_NPHI,
    channel: int = 0,
) -> None:
    """Add ``value`` at grid (row, col) into channel ``channel`` of the crops ``out``.

    ``out`` is a C-contiguous float32 ``[n, C, H, W]`` array. The crop of object i starts
    ``before`` cells below its centre in both directions, so grid cell (row, col) of object
    ``obj`` goes to ``out[obj, channel, row - center_row + before, col - center_col +
    before]``, the column difference wrapped around ``nphi`` (phi). Cells outside the crop
    are skipped; rows outside the barrel never appear, so frames crossing the acceptance edge
    are zero-padded.
    """
    _, channels, height, width = out.shape
    fr = row - center_row[obj] + before
    dc = (col - center_col[obj] + nphi // 2) % nphi - nphi // 2
    fc = dc + before
    inside = (fr >= 0) & (fr < height) & (fc >= 0) & (fc < width)
    flat = ((obj[inside] * channels + channel) * height + fr[inside]) * width + fc[inside]
    # numpy's fast path: 1-D contiguous target; writes in memory order, because scattered
    # first writes into a freshly allocated (lazily zeroed) array cost a page fault each
    order = np.argsort(flat, kind="stable")
    np.add.at(out.reshape(-1), flat[order], value[inside][order])


def crop_points(
    out: np.ndarray,
    points: Points,
    obj_entry: np.ndarray,
    center_row: np.ndarray,
    center_col: np.ndarray,
    before: int,
    nphi: int,
    channel: int = 0,
) -> None:
    """Accumulate (entry, row, col, value) points into channel ``channel`` of the crops
    ``out`` [n, C, H, W] of objects at ``obj_entry``, pairing each object only with the
    points of its event in rows the crop can reach (geometry: :func:`accumulate_crops`)."""
    if not out.flags.c_contiguous:
        msg = f"crop_points: out must be C-contiguous, got strides {out.strides}"
        raise ValueError(msg)
    entry, row, col, value = points
    height = out.shape[2]
    obj, elem = pairs_in_band(obj_entry, center_row, entry, row, before, height - 1 - before)
    accumulate_crops(
        out,
        center_row,
        center_col,
        obj,
        row[elem],
        col[elem],
        value[elem],
        before=before,
        nphi=nphi,
        channel=channel,
    )
