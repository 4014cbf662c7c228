"""Ragged: per-graph slices of a per-node array, without padding.

A node-level model output [N, C] of a batch of G graphs is returned as ``Ragged(values,
offsets)``: graph g owns ``values[offsets[g]:offsets[g + 1]]``. Imports neither torch nor
awkward (``to_awkward`` imports it when called).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from e2e_gnn.graphs.batch import GraphBatch

__all__ = ["Ragged"]


@dataclass(frozen=True)
class Ragged:
    """Rows of many graphs back to back.

    Attributes:
        values: [N, ...] rows of every graph, graph by graph.
        offsets: int64 [G + 1], non-decreasing, from 0 to N: graph g owns rows
            ``offsets[g]:offsets[g + 1]``.
    """

    values: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        offsets = np.asarray(self.offsets)
        if (
            offsets.ndim != 1
            or offsets.size == 0
            or offsets.dtype.kind not in "iu"
            or offsets[0] != 0
            or (offsets[1:] < offsets[:-1]).any()
            or offsets[-1] != len(self.values)
        ):
            msg = (
                f"Ragged offsets must be integers [G + 1] rising from 0 to the {len(self.values)} "
                f"rows of values, got {offsets.tolist()[:8]}{'...' if offsets.size > 8 else ''}"
            )
            raise ValueError(msg)

    @classmethod
    def from_batch(cls, values: np.ndarray, graphs: GraphBatch) -> Ragged:
        """A per-node array of ``graphs`` (one row per node, in the batch's node order)."""
        if len(values) != graphs.num_nodes:
            msg = (
                f"a per-node output has {len(values)} rows but the batch has "
                f"{graphs.num_nodes} nodes"
            )
            raise ValueError(msg)
        return cls(values, graphs.node_ptr)

    @classmethod
    def concatenate(cls, parts: Sequence[Ragged]) -> Ragged:
        """The graphs of ``parts``, in order, as one Ragged."""
        if not parts:
            msg = "Ragged.concatenate needs at least one part"
            raise ValueError(msg)
        starts = np.cumsum([0] + [len(p.values) for p in parts[:-1]])
        offsets = np.concatenate(
            [[0]] + [p.offsets[1:] + start for p, start in zip(parts, starts, strict=True)]
        ).astype(np.int64)
        return cls(np.concatenate([p.values for p in parts]), offsets)

    @property
    def counts(self) -> np.ndarray:
        """int64 [G]: rows of each graph."""
        return np.diff(self.offsets).astype(np.int64)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, graph: int) -> np.ndarray:
        if not -len(self) <= graph < len(self):
            msg = f"graph {graph} out of range for {len(self)} graphs"
            raise IndexError(msg)
        graph %= len(self)
        return self.values[self.offsets[graph] : self.offsets[graph + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[g] for g in range(len(self)))

    def to_list(self) -> list[np.ndarray]:
        return list(self)

    def to_awkward(self) -> Any:
        """An awkward array [G, var, ...] (one list of rows per graph)."""
        import awkward as ak

        return ak.unflatten(self.values, self.counts)
