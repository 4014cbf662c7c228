"""Training data from dense frames: labelled frames, the split by event, kNN pixel graphs.

NumPy only (no torch): frames files written by ``e2e-gnn frames`` (or frames straight from
a producer, as in the main job) -> labelled frames -> training and validation sets with no
event in both -> the frames themselves (CNN) or graphs of their non-zero pixels (GNN: kNN
or layered distance thresholds).

Frames are held in memory (:class:`LabelledFrames`) or left in their files and read a chunk
at a time (:class:`FrameChunks`, what ``e2e-gnn train`` uses: a 9-channel 125 x 125 jet is
0.56 MB). Both give their items as chunks (``chunks()``, ``read(items)``): the trainer's
data order is defined per chunk, so that the two train the same model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from e2e_gnn.frames.batch import FrameBatch
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.from_frames import graphs_from_frames
from e2e_gnn.io import FRAME_FILES, InputFileError, read_frames, write_graphs
from e2e_gnn.io.frame_files import frame_rows
from e2e_gnn.spec import GraphSpec

__all__ = [
    "CHUNK_FRAMES",
    "ChunkedFrameBatch",
    "FrameChunks",
    "FrameEdges",
    "LabelledFrames",
    "TrainingDataError",
    "frame_graph_spec",
    "frame_graphs",
    "held_out",
    "labelled_frames",
    "read_frame_chunks",
    "read_labelled_frames",
    "split_by_event",
    "write_labelled_graphs",
]

#: frames read at a time when training from files: 128 9-channel 125 x 125 jets are 72 MB
#: (measured peak memory of reading 504 such jets: 520 MB in chunks of 128, 275 MB in
#: chunks of 32, 1213 MB all at once)
CHUNK_FRAMES = 128
WANTED = (
    "a dense frames file written by `e2e-gnn frames --kind jet|eg|layered` "
    "(frame_<channel>, label and event columns)"
)


class TrainingDataError(ValueError):
    """The frames cannot be trained on: wrong file, no labels, one class, mixed channels."""


@dataclass(frozen=True)
class LabelledFrames:
    """Frames with a 0/1 label each: ``data`` float32 [B, C, H, W] (layered: [B, C, L, H, W]),
    ``label`` float32 [B], ``event`` int64 [B] (ids unique across the files read, for the
    split), ``ids``: per-frame columns naming each frame in its input (``event``, ``index``
    and, from several files, ``file``: the position in the list), written next to its graph
    so that scores join back; ``columns``: the other per-frame columns of the files (the
    object's ``pt`` and ``eta``, ...), for reweighting and binned results."""

    data: np.ndarray
    channel_names: tuple[str, ...]
    label: np.ndarray
    event: np.ndarray
    ids: Mapping[str, np.ndarray] = field(default_factory=dict)
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.label)

    @property
    def signal(self) -> int:
        return int(self.label.sum())

    @property
    def layered(self) -> bool:
        return self.data.ndim == 5

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[1:])

    def select(self, mask: np.ndarray) -> LabelledFrames:
        return LabelledFrames(
            self.data[mask],
            self.channel_names,
            self.label[mask],
            self.event[mask],
            {name: values[mask] for name, values in self.ids.items()},
            {name: values[mask] for name, values in self.columns.items()},
        )

    def chunks(self) -> list[np.ndarray]:
        """One chunk: all items (held in memory)."""
        return [np.arange(len(self))]

    def read(self, items: np.ndarray) -> np.ndarray:
        return self.data[items]


def labelled_frames(
    data: np.ndarray,
    channel_names: Sequence[str],
    label: np.ndarray,
    event: np.ndarray,
    source: str,
    ids: Mapping[str, np.ndarray] | None = None,
    columns: Mapping[str, np.ndarray] | None = None,
) -> tuple[LabelledFrames, int]:
    """The frames with a label (``label >= 0``) and how many were skipped without one;
    ``ids`` (default: ``{"event": event}``) are the frames' identifying columns, ``columns``
    other per-frame values (pt, eta, ...).

    Raises TrainingDataError when no frame is labelled, when all labels are one class, or
    when a label is not 0 or 1 (``source`` names the frames in the message).
    """
    known = _labelled(label, source)
    frames = LabelledFrames(
        data[known],
        tuple(channel_names),
        label[known].astype(np.float32),
        event[known],
        {name: np.asarray(values)[known] for name, values in (ids or {"event": event}).items()},
        {name: np.asarray(values)[known] for name, values in (columns or {}).items()},
    )
    return frames, int((~known).sum())


def _labelled(label: np.ndarray, source: str) -> np.ndarray:
    """bool [B]: the labelled items (label >= 0), after checking that both classes and only
    they are there."""
    known = label >= 0
    if not known.any():
        msg = f"no labelled frames in {source}: all {len(label)} have label < 0"
        raise TrainingDataError(msg)
    classes = np.unique(label[known])
    if not np.isin(classes, (0, 1)).all():
        msg = f"labels of {source} are {classes.tolist()}; a binary tagger trains on 0 and 1"
        raise TrainingDataError(msg)
    if len(classes) < 2:
        msg = (
            f"all {int(known.sum())} labelled frames of {source} have label {int(classes[0])}: "
            "training needs both classes (signal 1 and background 0)"
        )
        raise TrainingDataError(msg)
    return known


def _check_path(path: Path) -> None:
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        msg = f"frames file {str(path)!r} {what}; expected {WANTED}"
        raise TrainingDataError(msg)
    if path.suffix.lower() not in FRAME_FILES:
        msg = f"{str(path)!r} is not a frames file (suffix {path.suffix!r}); expected {WANTED}"
        raise TrainingDataError(msg)


def _check_columns(path: Path, columns: Mapping[str, np.ndarray]) -> None:
    missing = [name for name in ("label", "event") if name not in columns]
    if missing:
        msg = f"frames file {str(path)!r} lacks the column(s) {missing}; expected {WANTED}"
        raise TrainingDataError(msg)


def _read_one(path: Path) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    _check_path(path)
    try:
        read = read_frames(path)
    except InputFileError as err:
        msg = f"{str(path)!r} is not a frames file ({err}); expected {WANTED}"
        raise TrainingDataError(msg) from err
    _check_columns(path, read.columns)
    return read.frames.frames, list(read.channel_names), read.columns


def _read_rows(path: Path) -> tuple[tuple[int, ...], list[str], dict[str, np.ndarray]]:
    """(frame shape, channel names, per-frame columns) of a frames file, reading one frame."""
    _check_path(path)
    try:
        columns, names = frame_rows(path)
        shape = read_frames(path, entry_stop=1).frames.frames.shape[1:]
    except InputFileError as err:
        msg = f"{str(path)!r} is not a frames file ({err}); expected {WANTED}"
        raise TrainingDataError(msg) from err
    _check_columns(path, columns)
    return tuple(shape), list(names), columns


def _check_same_kind(
    paths: Sequence[Path], shapes: Sequence[tuple[int, ...]], names: Sequence[list[str]]
) -> None:
    for path, shape, channels in zip(paths[1:], shapes[1:], names[1:], strict=True):
        if channels != names[0] or shape != shapes[0]:
            msg = (
                f"{str(path)!r} holds frames {channels} {list(shape)}, "
                f"{str(paths[0])!r} holds {names[0]} {list(shapes[0])}: "
                "train on frames of one kind, with the same channels"
            )
            raise TrainingDataError(msg)


#: per-frame columns that are ids or labels, not values to reweight or bin in
_BOOKKEEPING = ("label", "event", "index", "file")


def _joined_columns(
    parts: Sequence[Mapping[str, np.ndarray]],
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(event id unique across files, ids, other columns) of the per-frame columns of
    several files."""
    file_of = np.concatenate([np.full(len(c["label"]), i) for i, c in enumerate(parts)])
    events = np.concatenate([columns["event"] for columns in parts])
    _, event_id = np.unique(np.column_stack([file_of, events]), axis=0, return_inverse=True)
    ids = {"event": events}
    if all("index" in columns for columns in parts):
        ids["index"] = np.concatenate([columns["index"] for columns in parts])
    if len(parts) > 1:
        ids["file"] = file_of
    shared = [n for n in parts[0] if n not in _BOOKKEEPING and all(n in c for c in parts)]
    values = {name: np.concatenate([columns[name] for columns in parts]) for name in shared}
    return event_id.reshape(-1).astype(np.int64), ids, values


def read_labelled_frames(paths: Sequence[str | os.PathLike[str]]) -> tuple[LabelledFrames, int]:
    """The labelled frames of all ``paths`` (same channels and shape) and the number of
    unlabelled frames skipped. Events are numbered per file, so each frame's event id
    becomes (file, event): frames of one event stay together in the split. The frames keep
    their ``event`` and ``index`` columns (and ``file``, from several files) as ids."""
    paths = [Path(p) for p in paths]
    parts = [_read_one(path) for path in paths]
    _check_same_kind(paths, [data.shape[1:] for data, *_ in parts], [n for _, n, _ in parts])
    event_id, ids, values = _joined_columns([columns for *_, columns in parts])
    return labelled_frames(
        np.concatenate([data for data, *_ in parts]),
        parts[0][1],
        np.concatenate([columns["label"] for *_, columns in parts]),
        event_id,
        ", ".join(repr(str(p)) for p in paths),
        ids,
        values,
    )


@dataclass(frozen=True)
class FrameChunks:
    """Labelled frames left in their files, read ``chunk_size`` file rows at a time: the
    per-frame columns of :class:`LabelledFrames` (``label``, ``event``, ``ids``,
    ``columns``) in memory, the pixels on disk. ``file`` and ``row`` locate each frame
    (position in ``paths``, row in that file)."""

    paths: tuple[Path, ...]
    channel_names: tuple[str, ...]
    frame_shape: tuple[int, ...]
    label: np.ndarray
    event: np.ndarray
    file: np.ndarray
    row: np.ndarray
    chunk_size: int
    ids: Mapping[str, np.ndarray] = field(default_factory=dict)
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.label)

    @property
    def signal(self) -> int:
        return int(self.label.sum())

    @property
    def layered(self) -> bool:
        return len(self.frame_shape) == 4

    def select(self, mask: np.ndarray) -> FrameChunks:
        return FrameChunks(
            self.paths,
            self.channel_names,
            self.frame_shape,
            self.label[mask],
            self.event[mask],
            self.file[mask],
            self.row[mask],
            self.chunk_size,
            {name: values[mask] for name, values in self.ids.items()},
            {name: values[mask] for name, values in self.columns.items()},
        )

    def chunks(self) -> list[np.ndarray]:
        """The items by chunk of ``chunk_size`` rows of their file, in file order."""
        key = self.file.astype(np.int64) * (int(self.row.max(initial=0)) + 1) + (
            self.row // self.chunk_size
        )
        order = np.argsort(key, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(key[order]) != 0])
        return np.split(order, starts[1:])

    def read(self, items: np.ndarray) -> np.ndarray:
        """float32 frames of ``items`` (all from one file), in that order: one read of the
        rows they span."""
        items = np.asarray(items)
        files = np.unique(self.file[items])
        if len(files) != 1:
            msg = f"FrameChunks.read reads one file at a time; items span files {files.tolist()}"
            raise ValueError(msg)
        path, rows = self.paths[int(files[0])], self.row[items]
        start, stop = int(rows.min()), int(rows.max()) + 1
        try:
            read = read_frames(
                path, channels=self.channel_names, entry_start=start, entry_stop=stop
            )
        except InputFileError as err:
            msg = f"cannot read rows {start} to {stop} of frames file {str(path)!r}: {err}"
            raise TrainingDataError(msg) from err
        return read.frames.frames[rows - start]


def read_frame_chunks(
    paths: Sequence[str | os.PathLike[str]], chunk_size: int
) -> tuple[FrameChunks, int]:
    """:func:`read_labelled_frames` without reading the pixels: the labelled frames of
    ``paths`` as :class:`FrameChunks` of ``chunk_size`` rows, and the number of unlabelled
    frames skipped."""
    if chunk_size < 1:
        msg = f"chunk_size must be >= 1 frame, got {chunk_size!r}"
        raise ValueError(msg)
    paths = [Path(p) for p in paths]
    parts = [_read_rows(path) for path in paths]
    _check_same_kind(paths, [shape for shape, *_ in parts], [n for _, n, _ in parts])
    event_id, ids, values = _joined_columns([columns for *_, columns in parts])
    label = np.concatenate([columns["label"] for *_, columns in parts])
    known = _labelled(label, ", ".join(repr(str(p)) for p in paths))
    lengths = [len(columns["label"]) for *_, columns in parts]
    chunks = FrameChunks(
        tuple(paths),
        tuple(parts[0][1]),
        parts[0][0],
        label.astype(np.float32),
        event_id,
        np.repeat(np.arange(len(paths)), lengths),
        np.concatenate([np.arange(n) for n in lengths]),
        chunk_size,
        ids,
        values,
    )
    return chunks.select(known), int((~known).sum())


@dataclass(frozen=True)
class ChunkedFrameBatch:
    """The training input of a frame model over :class:`FrameChunks`: what the trainer
    iterates (``y``, ``chunks()``, ``open(items)``) instead of a FrameBatch in memory."""

    frames: FrameChunks

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def y(self) -> np.ndarray:
        return self.frames.label

    def chunks(self) -> list[np.ndarray]:
        return self.frames.chunks()

    def open(self, items: np.ndarray) -> tuple[FrameBatch, np.ndarray]:
        """The frames of one chunk's ``items`` and their positions in it."""
        return FrameBatch(self.frames.read(items), self.frames.label[items]), np.arange(len(items))


def held_out(event: np.ndarray, validation_fraction: float, seed: int) -> np.ndarray:
    """bool [len(event)]: the items of a seeded ``validation_fraction`` of the events."""
    events = np.unique(event)
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(events)[: int(len(events) * validation_fraction)]
    return np.isin(event, chosen)


Frames = TypeVar("Frames", LabelledFrames, FrameChunks)


def split_by_event(frames: Frames, validation_fraction: float, seed: int) -> tuple[Frames, Frames]:
    """(training, validation): a seeded ``validation_fraction`` of the events, with all
    their frames, is held out, so no event has frames on both sides."""
    is_validation = held_out(frames.event, validation_fraction, seed)
    split = frames.select(~is_validation), frames.select(is_validation)
    for name, part in zip(("training", "validation"), split, strict=True):
        if len(np.unique(part.label)) < 2:
            msg = (
                f"the {name} set has {len(part)} frames ({part.signal} signal) from "
                f"{len(np.unique(part.event))} events: it needs both classes; give more "
                f"frames or another validation fraction than {validation_fraction}"
            )
            raise TrainingDataError(msg)
    return split


@dataclass(frozen=True)
class FrameEdges:
    """How a frame's pixel graph is wired: ``knn`` (k nearest in (row, col)) or
    ``threshold`` (the displaced-photon study's: pixels within ``same_layer`` in the same
    layer or ``adjacent_layer`` in the next, in normalised (row, col) units)."""

    builder: str = "knn"
    k: int = 16
    same_layer: float = 0.0
    adjacent_layer: float = 0.0


def frame_graph_spec(frames: LabelledFrames | FrameChunks, edges: FrameEdges) -> GraphSpec:
    """How :func:`frame_graphs` builds graphs, for the model's spec: nodes are the non-zero
    pixels, features their coordinates (and layer) then the channels, edges from (row, col)
    (and layer, with the threshold distances: every runtime builds them from the spec)."""
    position = ("row", "col", "layer") if frames.layered else ("row", "col")
    threshold = edges.builder == "threshold"
    return GraphSpec(
        feature_names=(*position, *frames.channel_names),
        builder=edges.builder,
        k=edges.k if edges.builder == "knn" else None,
        loop=False,
        coordinates=("row", "col"),
        coordinate_scale=(1.0, 1.0),
        layer="layer" if threshold and frames.layered else None,
        same_layer=edges.same_layer if threshold else None,
        adjacent_layer=edges.adjacent_layer if threshold else None,
    )


def frame_graphs(frames: LabelledFrames | FrameChunks, edges: FrameEdges) -> GraphBatch:
    """One labelled graph of the non-zero pixels per frame, in order, built chunk by chunk
    (the graphs, only the non-zero pixels, are kept; the frames are not)."""
    parts = []
    for items in frames.chunks():
        graphs = graphs_from_frames(
            frames.read(items),
            edges="threshold" if edges.builder == "threshold" else "knn",
            k=edges.k,
            same_layer=edges.same_layer,
            adjacent_layer=edges.adjacent_layer,
        )
        parts.append((items, graphs))
    if len(parts) == 1 and np.array_equal(parts[0][0], np.arange(len(frames))):
        graphs = parts[0][1]
        return GraphBatch(
            graphs.x, graphs.edge_index, graphs.batch, graphs.num_graphs, frames.label
        )
    items = np.concatenate([items for items, _ in parts])
    nodes = np.cumsum([0] + [len(g.x) for _, g in parts])
    first = np.cumsum([0] + [g.num_graphs for _, g in parts])
    joined = GraphBatch(
        np.concatenate([g.x for _, g in parts]),
        np.concatenate([g.edge_index + n for (_, g), n in zip(parts, nodes, strict=False)], 1),
        np.concatenate([g.batch + f for (_, g), f in zip(parts, first, strict=False)]),
        len(frames),
        frames.label[items],
    )
    # back to item order (chunks group the items by file and row)
    return joined.select(np.argsort(items).tolist())


def write_labelled_graphs(
    path: str | os.PathLike[str],
    graphs: GraphBatch,
    spec: GraphSpec,
    ids: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Graphs with named features, their labels and the ``ids`` of their frames (event,
    index: see :class:`LabelledFrames`), for ``e2e-gnn infer --graphs``."""
    return write_graphs(path, graphs, feature_names=spec.feature_names, **(ids or {}))
