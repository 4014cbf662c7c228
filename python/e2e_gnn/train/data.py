"""Training data from dense frames: labelled frames, the split by event, kNN pixel graphs.

NumPy only (no torch): frames files written by ``e2e-gnn frames`` (or frames straight from
a producer, as in the main job) -> labelled frames -> training and validation sets with no
event in both -> the frames themselves (CNN) or graphs of their non-zero pixels (GNN: kNN
or layered distance thresholds).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.from_frames import graphs_from_frames
from e2e_gnn.io import FRAME_FILES, InputFileError, read_frames, write_graphs
from e2e_gnn.spec import GraphSpec

__all__ = [
    "FrameEdges",
    "LabelledFrames",
    "TrainingDataError",
    "frame_graph_spec",
    "frame_graphs",
    "labelled_frames",
    "read_labelled_frames",
    "split_by_event",
    "write_labelled_graphs",
]

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
    so that scores join back."""

    data: np.ndarray
    channel_names: tuple[str, ...]
    label: np.ndarray
    event: np.ndarray
    ids: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.label)

    @property
    def signal(self) -> int:
        return int(self.label.sum())

    @property
    def layered(self) -> bool:
        return self.data.ndim == 5

    def select(self, mask: np.ndarray) -> LabelledFrames:
        return LabelledFrames(
            self.data[mask],
            self.channel_names,
            self.label[mask],
            self.event[mask],
            {name: values[mask] for name, values in self.ids.items()},
        )


def labelled_frames(
    data: np.ndarray,
    channel_names: Sequence[str],
    label: np.ndarray,
    event: np.ndarray,
    source: str,
    ids: Mapping[str, np.ndarray] | None = None,
) -> tuple[LabelledFrames, int]:
    """The frames with a label (``label >= 0``) and how many were skipped without one;
    ``ids`` (default: ``{"event": event}``) are the frames' identifying columns.

    Raises TrainingDataError when no frame is labelled, when all labels are one class, or
    when a label is not 0 or 1 (``source`` names the frames in the message).
    """
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
    frames = LabelledFrames(
        data[known],
        tuple(channel_names),
        label[known].astype(np.float32),
        event[known],
        {name: np.asarray(values)[known] for name, values in (ids or {"event": event}).items()},
    )
    return frames, int((~known).sum())


def _read_one(path: Path) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        msg = f"frames file {str(path)!r} {what}; expected {WANTED}"
        raise TrainingDataError(msg)
    if path.suffix.lower() not in FRAME_FILES:
        msg = f"{str(path)!r} is not a frames file (suffix {path.suffix!r}); expected {WANTED}"
        raise TrainingDataError(msg)
    try:
        read = read_frames(path)
    except InputFileError as err:
        msg = f"{str(path)!r} is not a frames file ({err}); expected {WANTED}"
        raise TrainingDataError(msg) from err
    missing = [name for name in ("label", "event") if name not in read.columns]
    if missing:
        msg = f"frames file {str(path)!r} lacks the column(s) {missing}; expected {WANTED}"
        raise TrainingDataError(msg)
    return read.frames.frames, list(read.channel_names), read.columns


def read_labelled_frames(paths: Sequence[str | os.PathLike[str]]) -> tuple[LabelledFrames, int]:
    """The labelled frames of all ``paths`` (same channels and shape) and the number of
    unlabelled frames skipped. Events are numbered per file, so each frame's event id
    becomes (file, event): frames of one event stay together in the split. The frames keep
    their ``event`` and ``index`` columns (and ``file``, from several files) as ids."""
    paths = [Path(p) for p in paths]
    parts = [_read_one(path) for path in paths]
    first_data, first_names = parts[0][0], parts[0][1]
    for path, (data, names, _) in zip(paths[1:], parts[1:], strict=True):
        if names != first_names or data.shape[1:] != first_data.shape[1:]:
            msg = (
                f"{str(path)!r} holds frames {names} {list(data.shape[1:])}, "
                f"{str(paths[0])!r} holds {first_names} {list(first_data.shape[1:])}: "
                "train on frames of one kind, with the same channels"
            )
            raise TrainingDataError(msg)
    file_of = np.concatenate([np.full(len(data), i) for i, (data, _, _) in enumerate(parts)])
    events = np.concatenate([columns["event"] for *_, columns in parts])
    _, event_id = np.unique(np.column_stack([file_of, events]), axis=0, return_inverse=True)
    ids = {"event": events}
    if all("index" in columns for *_, columns in parts):
        ids["index"] = np.concatenate([columns["index"] for *_, columns in parts])
    if len(paths) > 1:
        ids["file"] = file_of
    return labelled_frames(
        np.concatenate([data for data, *_ in parts]),
        first_names,
        np.concatenate([columns["label"] for *_, columns in parts]),
        event_id.reshape(-1).astype(np.int64),
        ", ".join(repr(str(p)) for p in paths),
        ids,
    )


def split_by_event(
    frames: LabelledFrames, validation_fraction: float, seed: int
) -> tuple[LabelledFrames, LabelledFrames]:
    """(training, validation): a seeded ``validation_fraction`` of the events, with all
    their frames, is held out, so no event has frames on both sides."""
    events = np.unique(frames.event)
    rng = np.random.default_rng(seed)
    held_out = rng.permutation(events)[: int(len(events) * validation_fraction)]
    is_validation = np.isin(frames.event, held_out)
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


def frame_graph_spec(frames: LabelledFrames, edges: FrameEdges) -> GraphSpec:
    """How :func:`frame_graphs` builds graphs, for the model's spec: nodes are the non-zero
    pixels, features their coordinates (and layer) then the channels, edges from (row, col)
    (and layer). The threshold distances are not part of a GraphSpec: a threshold model's
    deployment passes its edges (built by ``graphs_from_frames``) and its checkpoint keeps
    the distances with its settings."""
    position = ("row", "col", "layer") if frames.layered else ("row", "col")
    return GraphSpec(
        feature_names=(*position, *frames.channel_names),
        builder=edges.builder,
        k=edges.k if edges.builder == "knn" else None,
        loop=False,
        coordinates=("row", "col"),
        coordinate_scale=(1.0, 1.0),
    )


def frame_graphs(frames: LabelledFrames, edges: FrameEdges) -> GraphBatch:
    """One labelled graph of the non-zero pixels per frame, in order."""
    graphs = graphs_from_frames(
        frames.data,
        edges="threshold" if edges.builder == "threshold" else "knn",
        k=edges.k,
        same_layer=edges.same_layer,
        adjacent_layer=edges.adjacent_layer,
    )
    return GraphBatch(graphs.x, graphs.edge_index, graphs.batch, graphs.num_graphs, frames.label)


def write_labelled_graphs(
    path: str | os.PathLike[str],
    graphs: GraphBatch,
    spec: GraphSpec,
    ids: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Graphs with named features, their labels and the ``ids`` of their frames (event,
    index: see :class:`LabelledFrames`), for ``e2e-gnn infer --graphs``."""
    return write_graphs(path, graphs, feature_names=spec.feature_names, **(ids or {}))
