"""Run one producer over ROOT files chunk by chunk and write its output (``e2e-gnn frames``).

Output layouts (see :mod:`e2e_gnn.io.frame_files` and :mod:`e2e_gnn.io.graph_files`): dense
frames as ``frame_<channel>`` columns plus ``label``, ``event``, ``index``, ``center_row``,
``center_col``; point clouds as the
``PointClouds.data`` records; object graphs as ``Node``/``Edge`` records plus ``event``.
Chunks are written as they are produced, so memory holds one chunk at a time (plus the few
frames kept for ``plot``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from e2e_gnn.frames.base import Frames, event_numbers
from e2e_gnn.frames.constituents import ConstituentGraphProducer, ConstituentGraphs
from e2e_gnn.frames.eg import EGFrameProducer
from e2e_gnn.frames.jet import JET_CHANNEL_UNITS, JetFrameProducer
from e2e_gnn.frames.layered import LayeredCaloProducer
from e2e_gnn.frames.objects import ObjectGraphProducer, ObjectGraphs
from e2e_gnn.frames.plot import plot_frames
from e2e_gnn.frames.pointcloud import PointCloudProducer, PointClouds
from e2e_gnn.io import ColumnWriter, Schema, frame_columns, graph_columns, read_events

__all__ = ["PRODUCERS", "FrameRun", "make_frames"]

#: producer kinds by name, with the schema their inputs usually come in
PRODUCERS: dict[str, tuple[Callable[..., Any], str]] = {
    "jet": (JetFrameProducer, "e2e_gnn"),
    "eg": (EGFrameProducer, "e2e_gnn"),
    "layered": (LayeredCaloProducer, "e2e_gnn"),
    "pointcloud": (PointCloudProducer, "e2e_gnn"),
    "objects": (ObjectGraphProducer, "nanoaod"),
    "constituents": (ConstituentGraphProducer, "e2e_gnn"),
}


@dataclass
class FrameRun:
    """What a ``make_frames`` run did."""

    kind: str
    output: Path
    events: int = 0
    produced: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    plot: Path | None = None


def _columns(result: Frames | PointClouds | ObjectGraphs | ConstituentGraphs) -> dict[str, Any]:
    if isinstance(result, Frames):
        names = result.channel_names
        return frame_columns(
            result.data,
            names,
            label=result.label,
            event=result.event,
            index=result.index,
            center_row=result.center[:, 0],
            center_col=result.center[:, 1],
        )
    if isinstance(result, PointClouds):
        return {k: result.data[k] for k in result.data.fields}
    if isinstance(result, ConstituentGraphs):
        # u as per-graph columns named by graph_feature_names (io.graph_files' layout)
        per_graph = {
            **dict(zip(result.graph_feature_names, result.u.T, strict=True)),
            **result.columns,
        }
    else:
        per_graph = {"event": result.event}
    return graph_columns(
        result.x,
        result.edge_index,
        result.batch,
        result.num_graphs,
        feature_names=result.feature_names,
        **per_graph,
    )


def make_frames(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    kind: str = "jet",
    schema: str | os.PathLike[str] | Schema | None = None,
    step_size: int | str = 100,
    entry_stop: int | None = None,
    plot: str | os.PathLike[str] | None = None,
    plot_per_class: int = 3,
    options: Mapping[str, Any] | None = None,
) -> FrameRun:
    """Read ``inputs``, run the ``kind`` producer on every chunk, write ``output``.

    Args:
        inputs: ROOT files, read in order.
        output: ``.root`` (a TTree ``Events``) or ``.parquet``.
        kind: one of ``PRODUCERS`` (jet, eg, layered, pointcloud, objects, constituents).
        schema: input schema (default: the kind's usual one, see ``PRODUCERS``).
        step_size: events per chunk (or a size such as "100 MB"); a 9-channel 125 x 125 jet
            frame is 562 kB, so 100 events of a few jets hold a few hundred MB of frames.
        entry_stop: read at most this many entries per file.
        plot: also write a PNG grid of the first frames of each label (dense kinds only).
        options: keyword arguments for the producer (e.g. ``{"edge": "drop"}``).

    Raises ValueError if no frame at all was produced (the drop counts say why).
    """
    if kind not in PRODUCERS:
        msg = f"unknown frame kind {kind!r}; choose from {sorted(PRODUCERS)}"
        raise ValueError(msg)
    factory, default_schema = PRODUCERS[kind]
    producer = factory(**dict(options or {}))
    if plot is not None and kind in ("pointcloud", "objects", "constituents"):
        made = "point clouds" if kind == "pointcloud" else "graphs"
        msg = f"plot draws dense frames; kind {kind!r} makes {made}"
        raise ValueError(msg)
    run = FrameRun(kind=kind, output=Path(output))
    kept: list[Frames] = []
    with ColumnWriter(output) as writer:
        for events in read_events(
            inputs,
            default_schema if schema is None else schema,
            step_size=step_size,
            entry_stop=entry_stop,
        ):
            result = producer(events)
            run.events += len(events)
            for reason, count in getattr(result, "dropped", {}).items():
                run.dropped[reason] = run.dropped.get(reason, 0) + count
            n = len(result)
            if n == 0:
                continue
            columns = _columns(result)
            if isinstance(result, Frames):
                columns.update(_kinematics(events, getattr(producer, "collection", None), result))
            writer.write(columns)
            run.produced += n
            if plot is not None and isinstance(result, Frames):
                kept.append(_first_per_label(result, plot_per_class))
    if run.produced == 0:
        msg = (
            f"no {kind} output from {run.events} events of {[str(p) for p in inputs]}; "
            f"dropped: {run.dropped or 'nothing (no objects in the events)'}"
        )
        raise ValueError(msg)
    if plot is not None and kept:
        frames = _first_per_label(Frames.concatenate(kept), plot_per_class)
        names = list(frames.channel_names)
        if frames.data.ndim == 5:
            names = [
                f"{c}:{layer}" if len(names) > 1 else layer
                for c in names
                for layer in frames.layer_names
            ]
        run.plot = plot_frames(
            frames.data,
            frames.label,
            names,
            plot,
            per_class=plot_per_class,
            **_plot_geometry(producer, names),
        )
    return run


def _kinematics(events: Any, collection: str | None, frames: Frames) -> dict[str, np.ndarray]:
    """``pt`` and ``eta`` of each frame's object (its ``collection``'s fields, joined on the
    frame's event and index), for `e2e-gnn train --reweight pt,eta`; the fields the
    collection lacks are left out."""
    if collection is None or collection not in events.fields:
        return {}
    objects = events[collection]
    numbers = event_numbers(events)
    by_number = np.argsort(numbers, kind="stable")
    position = by_number[np.searchsorted(numbers[by_number], frames.event)]
    offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(objects, axis=1)))])
    flat = offsets[position] + frames.index
    return {
        name: ak.to_numpy(ak.flatten(objects[name], axis=1))[flat].astype(np.float32)
        for name in ("pt", "eta")
        if name in objects.fields
    }


def _plot_geometry(producer: Any, names: Sequence[str]) -> dict[str, Any]:
    """``plot_frames``' units, cell size and centre pixel for the frames of ``producer``."""
    if isinstance(producer, LayeredCaloProducer):
        return {
            "units": dict.fromkeys(names, "fraction of the image"),
            "cell": (producer.bin_eta, producer.bin_phi),
            "centre": producer.bins // 2,
        }
    # jet and e/gamma frames: ECAL crystals around pixel (size - 1) // 2, plot_frames' default
    return {"units": JET_CHANNEL_UNITS}


def _first_per_label(frames: Frames, n: int) -> Frames:
    keep = np.zeros(len(frames), dtype=bool)
    for label in np.unique(frames.label):
        keep[np.flatnonzero(frames.label == label)[:n]] = True
    return frames.select(keep)
