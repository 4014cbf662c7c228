"""Score files: one row per graph or frame, the same column names in every format.

``score`` for a model with one output class (scores [B] or [B, 1]), ``score_0`` ...
``score_<K-1>`` for K classes, then the extra per-row columns (event, index, label, ...)
that join the scores back to the input. Formats, by suffix: ``.npz`` (one array per
column), ``.csv`` (a header line of the column names), ``.root`` (a TTree) and
``.parquet``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from e2e_gnn.io.columns import atomic_path, file_format, write_columns

__all__ = ["SCORE_FILES", "score_columns", "write_scores"]

SCORE_FILES = (".npz", ".csv", ".root", ".parquet")


def score_columns(scores: np.ndarray, **columns: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of a score file: ``score`` (one class) or ``score_<k>``, then the extras."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.ndim != 2 or scores.shape[1] == 0:
        msg = f"scores must be [B] or [B, K], got shape {list(scores.shape)}"
        raise ValueError(msg)
    classes = scores.shape[1]
    names = ["score"] if classes == 1 else [f"score_{k}" for k in range(classes)]
    data = {name: np.ascontiguousarray(scores[:, k]) for k, name in enumerate(names)}
    clash = sorted(set(data) & set(columns))
    if clash:
        msg = f"extra columns {clash} clash with the score columns"
        raise ValueError(msg)
    for name, values in columns.items():
        if np.shape(values) != (len(scores),):
            msg = (
                f"column {name!r} has shape {list(np.shape(values))}, expected one value per "
                f"score row [{len(scores)}]"
            )
            raise ValueError(msg)
    return {**data, **{name: np.asarray(values) for name, values in columns.items()}}


def write_scores(
    path: str | os.PathLike[str], scores: np.ndarray, *, tree: str = "Events", **columns: np.ndarray
) -> Path:
    """Write scores [B] or [B, K] and per-row ``columns`` (ids, labels) to ``.npz``,
    ``.csv``, ``.root`` or ``.parquet``, with the columns of :func:`score_columns`. The
    file is written under a temporary name and renamed to ``path`` when complete."""
    fmt = file_format(path, SCORE_FILES)
    data = score_columns(scores, **columns)
    path = Path(path)
    if fmt in (".root", ".parquet"):
        return write_columns(path, data, tree=tree)
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
