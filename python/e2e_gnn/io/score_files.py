"""Score files: one row per graph or frame, the same column names in every format.

Per-graph (or per-frame) outputs: ``score`` for a ``scores`` output with one class (scores
[B] or [B, 1]), ``score_0`` ... ``score_<K-1>`` for K classes; any other output ``name``
gives ``name`` or ``name_<k>``. Per-node outputs (:class:`~e2e_gnn.ragged.Ragged`, one
list per graph row and one entry per node) give jagged columns named the same way, next
to a jagged ``node_index`` (the node's position in its graph, as in the input file), in
``.root`` and ``.parquet`` only. Then the extra per-row columns (event, index, label, ...)
that join the scores back to the input. Formats, by suffix: ``.npz`` (one array per column),
``.csv`` (a header line of the column names), ``.root`` (a TTree; a jagged column ``name``
comes with its counter ``nname``) and ``.parquet``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import awkward as ak
import numpy as np

from e2e_gnn.io.columns import Column, atomic_path, file_format, write_columns
from e2e_gnn.ragged import Ragged

__all__ = ["NODE_INDEX", "SCORE_FILES", "score_columns", "write_scores"]

SCORE_FILES = (".npz", ".csv", ".root", ".parquet")
# the jagged column of a node output's file: each node's index in its graph
NODE_INDEX = "node_index"

Outputs = np.ndarray | Mapping[str, np.ndarray | Ragged]


def _prefix(output: str) -> str:
    # the one per-graph output of the taggers keeps the column names it always had
    return "score" if output == "scores" else output


def _columns_of(output: str, values: np.ndarray | Ragged) -> dict[str, Column]:
    """``output``'s columns: ``<prefix>`` (one column) or ``<prefix>_<k>``."""
    flat = np.asarray(values.values if isinstance(values, Ragged) else values, dtype=np.float32)
    if flat.ndim == 1:
        flat = flat[:, None]
    if flat.ndim != 2 or flat.shape[1] == 0:
        shape = ["nodes", *flat.shape[1:]] if isinstance(values, Ragged) else list(flat.shape)
        msg = f"output {output!r} must be [B] or [B, K] (per node: [N, K]), got shape {shape}"
        raise ValueError(msg)
    prefix = _prefix(output)
    names = [prefix] if flat.shape[1] == 1 else [f"{prefix}_{k}" for k in range(flat.shape[1])]
    if isinstance(values, Ragged):
        counts = values.counts
        return {
            n: ak.unflatten(np.ascontiguousarray(flat[:, k]), counts) for k, n in enumerate(names)
        }
    return {name: np.ascontiguousarray(flat[:, k]) for k, name in enumerate(names)}


def score_columns(scores: Outputs, **columns: np.ndarray) -> dict[str, Column]:
    """The columns of a score file: each output's columns (``scores`` [B] or [B, K] alone, or
    a model's outputs by name: ndarrays per row, Ragged per node, then ``node_index``),
    then the extras, one value per row."""
    outputs = {"scores": scores} if isinstance(scores, np.ndarray) else dict(scores)
    data: dict[str, Column] = {}
    rows: dict[str, int] = {}
    node_counts: np.ndarray | None = None
    for output, values in outputs.items():
        data.update(_columns_of(output, values))
        rows[output] = len(values)
        if isinstance(values, Ragged):
            if node_counts is not None and not np.array_equal(node_counts, values.counts):
                msg = f"per-node output {output!r} has other node counts than the one before it"
                raise ValueError(msg)
            node_counts = values.counts
    if len(set(rows.values())) > 1:
        msg = f"outputs have different numbers of rows: {rows}"
        raise ValueError(msg)
    if node_counts is not None:
        data[NODE_INDEX] = _node_index(node_counts)
    clash = sorted(set(data) & set(columns))
    if clash:
        msg = f"extra columns {clash} clash with the score columns"
        raise ValueError(msg)
    num_rows = next(iter(rows.values()))
    for name, values in columns.items():
        if np.shape(values) != (num_rows,):
            msg = (
                f"column {name!r} has shape {list(np.shape(values))}, expected one value per "
                f"score row [{num_rows}]"
            )
            raise ValueError(msg)
    return {**data, **{name: np.asarray(values) for name, values in columns.items()}}


def _node_index(counts: np.ndarray) -> ak.Array:
    """Jagged [G, var] int64: 0 .. n_g - 1 for graph g."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return ak.unflatten(np.arange(int(counts.sum()), dtype=np.int64) - starts, counts)


def write_scores(
    path: str | os.PathLike[str], scores: Outputs, *, tree: str = "Events", **columns: np.ndarray
) -> Path:
    """Write scores [B] or [B, K] (or a model's outputs by name, per-node outputs as
    Ragged) and per-row ``columns`` (ids, labels) to ``.npz``, ``.csv``, ``.root`` or
    ``.parquet`` (per-node outputs: ``.root`` or ``.parquet``), with the columns of
    :func:`score_columns`. The file is written under a temporary name and renamed to
    ``path`` when complete."""
    fmt = file_format(path, SCORE_FILES)
    data = score_columns(scores, **columns)
    path = Path(path)
    if fmt in (".root", ".parquet"):
        return write_columns(path, data, tree=tree)
    if NODE_INDEX in data:
        msg = f"per-node outputs are written to .root or .parquet files, not {fmt} ({str(path)!r})"
        raise ValueError(msg)
    with atomic_path(path) as partial:
        if fmt == ".npz":
            np.savez(partial, **data)
        else:  # integers (event numbers up to 2**53) written exactly, floats to 9 digits
            formats = ["%d" if v.dtype.kind in "biu" else "%.9g" for v in data.values()]
            table = np.column_stack([v.astype(np.float64) for v in data.values()])
            np.savetxt(
                partial, table, delimiter=",", header=",".join(data), comments="", fmt=formats
            )
    return path
