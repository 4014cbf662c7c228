"""Frame files (``e2e-gnn frames``): dense frames with named channels and per-frame columns.

``.root`` (a TTree) or ``.parquet``, one row per frame: one fixed-size column
``frame_<channel>`` of shape [H, W] (layered: [L, H, W]) per channel, so the channel names
travel with the file, plus per-frame columns (``label``, ``event``, ``index``, ...).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np

from e2e_gnn.frames.batch import FrameBatch
from e2e_gnn.io.columns import Column, file_format, read_columns, row_columns, write_columns
from e2e_gnn.io.errors import EmptyTreeError, FileContentError
from e2e_gnn.io.reader import open_tree

__all__ = [
    "FRAME_FILES",
    "FrameFile",
    "frame_columns",
    "frame_rows",
    "read_frames",
    "write_frames",
]

FRAME_FILES = (".root", ".parquet")
FRAME_PREFIX = "frame_"


@dataclass(frozen=True)
class FrameFile:
    """What :func:`read_frames` returns.

    Attributes:
        frames: float32 [B, C, H, W] (layered [B, C, L, H, W]); ``y`` is the ``label``
            column when the file has one (-1: unlabelled).
        channel_names: the names of the channels of ``frames``, in that order.
        columns: the file's columns with one number per frame (label, event, index, ...).
    """

    frames: FrameBatch
    channel_names: tuple[str, ...]
    columns: dict[str, np.ndarray] = field(default_factory=dict)


def frame_columns(
    frames: np.ndarray, channel_names: Sequence[str], **columns: Column
) -> dict[str, Column]:
    """The columns ``write_frames`` writes: one ``frame_<channel>`` per channel, then extras."""
    if frames.ndim < 3 or frames.shape[1] != len(channel_names):
        msg = (
            f"frames of shape {frames.shape} do not match {len(channel_names)} channel names "
            f"{list(channel_names)!r}; expected [B, C, ...] with C = len(channel_names)"
        )
        raise ValueError(msg)
    data: dict[str, Column] = {
        FRAME_PREFIX + name: np.ascontiguousarray(frames[:, i], dtype=np.float32)
        for i, name in enumerate(channel_names)
    }
    clash = sorted(set(data) & set(columns))
    if clash:
        msg = f"extra columns {clash!r} clash with the frame channel columns"
        raise ValueError(msg)
    return {**data, **columns}


def write_frames(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    channel_names: Sequence[str],
    *,
    tree: str = "Events",
    **columns: Column,
) -> Path:
    """Write frames ``[B, C, ...]`` as one ``frame_<channel>`` column per channel."""
    file_format(path, FRAME_FILES)
    return write_columns(path, frame_columns(frames, channel_names, **columns), tree=tree)


def read_frames(
    path: str | os.PathLike[str],
    *,
    channels: Sequence[str] | None = None,
    tree: str = "Events",
    entry_start: int | None = None,
    entry_stop: int | None = None,
) -> FrameFile:
    """The frames of a frames file, float32: all, or the rows ``entry_start`` to
    ``entry_stop`` (one chunk of a file too large to hold, see :func:`frame_rows`).

    With ``channels`` (a frame model's ``spec.frame["channels"]``) the channels come in
    that order, picked by name; a file lacking one is refused naming it. Raises an
    :class:`~e2e_gnn.io.errors.InputFileError` (missing, truncated, not a frames file, ...)
    naming the file and the column.
    """
    file_format(path, FRAME_FILES)
    cols = read_columns(path, tree=tree, entry_start=entry_start, entry_stop=entry_stop)
    where = f"tree {tree!r} of {str(path)!r}" if Path(path).suffix == ".root" else repr(str(path))
    if entry_start is not None or entry_stop is not None:
        where += f" (rows {entry_start or 0} to {entry_stop})"
    names = [k[len(FRAME_PREFIX) :] for k in cols if k.startswith(FRAME_PREFIX)]
    if not names:
        graph = any(k.startswith(("Node", "Edge")) for k in cols)
        hint = " (it holds Node/Edge columns: a graph file)" if graph else ""
        msg = (
            f"{where} is not a frames file: it holds no frame columns (named "
            f"{FRAME_PREFIX}<channel>){hint}; columns: {sorted(cols)}"
        )
        raise FileContentError(msg, file_path=path)
    if len(cols[FRAME_PREFIX + names[0]]) == 0:
        msg = f"{where} holds no frames"
        raise EmptyTreeError(msg, file_path=path)
    if channels is not None:
        missing = [name for name in channels if name not in names]
        if missing:
            msg = f"{str(path)!r} lacks channels {missing} the model needs (it has {names})"
            raise FileContentError(msg, file_path=path)
        names = list(channels)
    data = [
        _frame_column(cols[FRAME_PREFIX + name], FRAME_PREFIX + name, where, path) for name in names
    ]
    shapes = {FRAME_PREFIX + n: list(d.shape[1:]) for n, d in zip(names, data, strict=True)}
    if len({str(s) for s in shapes.values()}) > 1:
        msg = f"{where}: the frame columns differ in shape {shapes}"
        raise FileContentError(msg, file_path=path)
    columns = row_columns({k: v for k, v in cols.items() if not k.startswith(FRAME_PREFIX)})
    label = columns.get("label")
    frames = FrameBatch(
        np.stack(data, axis=1).astype(np.float32, copy=False),
        None if label is None else label.astype(np.float32),
    )
    return FrameFile(frames, tuple(names), columns)


def frame_rows(
    path: str | os.PathLike[str], *, tree: str = "Events"
) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """The per-frame columns of a frames file (label, event, index, pt, ...) and its channel
    names, without reading a pixel: what a chunked reader needs to plan its reads."""
    file_format(path, FRAME_FILES)
    cols = read_columns(path, tree=tree, keep=lambda name: not name.startswith(FRAME_PREFIX))
    where = f"tree {tree!r} of {str(path)!r}" if Path(path).suffix == ".root" else repr(str(path))
    names = _channel_names(path, tree)
    if not names:
        msg = (
            f"{where} is not a frames file: it holds no frame columns (named "
            f"{FRAME_PREFIX}<channel>); columns: {sorted(cols)}"
        )
        raise FileContentError(msg, file_path=path)
    return row_columns(cols), names


def _channel_names(path: str | os.PathLike[str], tree: str) -> tuple[str, ...]:
    if Path(path).suffix.lower() == ".root":
        keys = open_tree(path, tree).keys(recursive=False)
    else:
        import pyarrow.parquet as pq

        keys = pq.ParquetFile(path).schema_arrow.names
    return tuple(k[len(FRAME_PREFIX) :] for k in keys if k.startswith(FRAME_PREFIX))


def _frame_column(
    values: ak.Array, name: str, where: str, path: str | os.PathLike[str]
) -> np.ndarray:
    try:
        array = ak.to_numpy(values)
    except ValueError as err:  # jagged: not one fixed-size image per row
        msg = f"{where}: column {name!r} is jagged ({values.type}); a frame is a fixed-size image"
        raise FileContentError(msg, file_path=path) from err
    if isinstance(array, np.ma.MaskedArray):  # None in a parquet file: no number to read
        mask = np.ma.getmaskarray(array)
        if mask.any():
            frame = int(np.argwhere(mask)[0][0])
            msg = f"{where}: column {name!r} has missing values (None) in frame {frame}"
            raise FileContentError(msg, file_path=path)
        array = np.ma.getdata(array)
    if array.ndim < 3 or array.dtype.kind != "f":
        msg = (
            f"{where}: column {name!r} is {array.dtype} {list(array.shape)}, expected floats "
            "[frames, H, W] (layered [frames, L, H, W])"
        )
        raise FileContentError(msg, file_path=path)
    return array
