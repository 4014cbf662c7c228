"""Jagged collections carried as flat NumPy columns plus per-event counts.

The generator passes every per-event collection (particles, hits, tracks, jets, ...)
between its stages in this form and builds awkward arrays only where they are
needed (FastJet's input, ROOT writing), directly from layouts: a high-level
``ak.unflatten`` or ``ak.zip`` costs ~0.2-1 ms per call, more than the NumPy work on
a chunk of events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import awkward as ak
import numpy as np

__all__ = ["Collection"]


@dataclass(frozen=True)
class Collection:
    """One jagged collection: ``columns[name][i]`` belongs to event ``event[i]``.

    Entries are grouped by event in event order; ``counts[e]`` is the number of
    entries of event ``e``.
    """

    columns: dict[str, np.ndarray]
    counts: np.ndarray

    def __post_init__(self) -> None:
        total = int(self.counts.sum())
        for name, values in self.columns.items():
            if len(values) != total:
                msg = f"column {name!r} has {len(values)} entries, counts add up to {total}"
                raise ValueError(msg)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @property
    def n_events(self) -> int:
        return int(self.counts.size)

    @property
    def event(self) -> np.ndarray:
        """Event index of each entry."""
        return np.repeat(np.arange(self.counts.size), self.counts)

    @classmethod
    def from_event_index(
        cls, event: np.ndarray, columns: dict[str, np.ndarray], n_events: int
    ) -> Collection:
        """Build from entries already grouped by event, given each entry's event index."""
        return cls(columns, np.bincount(event, minlength=n_events).astype(np.int64))

    @classmethod
    def from_awkward(cls, array: ak.Array, names: Sequence[str] | None = None) -> Collection:
        """Flatten a jagged array of records (all fields, or ``names``).

        Lists of records of plain numbers are read from their layout directly; other
        layouts go through ``ak.flatten``.
        """
        names = array.fields if names is None else names
        layout = ak.to_layout(array)
        if isinstance(layout, ak.contents.ListArray):
            layout = layout.to_ListOffsetArray64(True)
        if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(
            layout.content, ak.contents.RecordArray
        ):
            offsets = np.asarray(layout.offsets.data, dtype=np.int64)
            fields = [layout.content.content(name) for name in names]
            if all(isinstance(field, ak.contents.NumpyArray) for field in fields):
                entries = slice(int(offsets[0]), int(offsets[-1]))
                columns = {
                    name: np.asarray(field.data)[entries]
                    for name, field in zip(names, fields, strict=True)
                }
                return cls(columns, np.diff(offsets))
        counts = ak.to_numpy(ak.num(array, axis=1)).astype(np.int64)
        flat = ak.flatten(array)
        return cls({name: ak.to_numpy(flat[name]) for name in names}, counts)

    def to_awkward(self, with_name: str | None = None) -> ak.Array:
        """The collection as a jagged awkward array of records (built from layouts)."""
        offsets = np.zeros(self.counts.size + 1, dtype=np.int64)
        np.cumsum(self.counts, out=offsets[1:])
        contents = [ak.contents.NumpyArray(np.ascontiguousarray(v)) for v in self.columns.values()]
        parameters = None if with_name is None else {"__record__": with_name}
        records = ak.contents.RecordArray(
            contents, list(self.columns), length=int(offsets[-1]), parameters=parameters
        )
        return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), records))

    @staticmethod
    def concatenate(parts: Sequence[Collection]) -> Collection:
        """Concatenate the events of several collections with the same columns."""
        columns = {
            name: np.concatenate([p.columns[name] for p in parts]) for name in parts[0].columns
        }
        return Collection(columns, np.concatenate([p.counts for p in parts]))
