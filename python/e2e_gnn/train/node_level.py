"""Node-level training (``e2e-gnn train --model jetpointnet``, ...): models with one output
row per node, trained on graphs with per-node targets.

The pipeline is the same for every node-level study: read the graphs (``node_y`` targets,
optional graph features ``u``), split them by event (no event on both sides: the clouds or
jets of one event share cells), train with a progress bar and a validation loss per epoch,
save the checkpoint, plot the losses, then the study's own metrics and plots, all in
``metrics.json``.

What differs between studies is a :class:`NodeLevelKind`, registered by name in
:data:`NODE_KINDS` (the module that defines the kind's ``KIND``, imported when used): its
data reader, model builder, graph spec, loss and evaluation.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import Progress
from torch import Tensor

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.io import write_graphs
from e2e_gnn.spec import GraphSpec
from e2e_gnn.train.checkpoint import save_checkpoint
from e2e_gnn.train.data import TrainingDataError, held_out
from e2e_gnn.train.plots import plot_losses
from e2e_gnn.train.settings import MODEL_KINDS, TrainSettings
from e2e_gnn.train.trainer import History

__all__ = [
    "NODE_KINDS",
    "NodeData",
    "NodeLevelKind",
    "NodeRun",
    "Tensors",
    "fit_nodes",
    "node_data",
    "node_kind",
    "predict_nodes",
    "split_nodes_by_event",
    "train_node_level",
]

#: node-level kinds by ``--model`` name: the module whose ``KIND`` is the kind
NODE_KINDS: dict[str, str] = {
    "jetpointnet": "e2e_gnn.train.jetpointnet",
    "calibration": "e2e_gnn.train.calibration",
}
#: graphs per inference call when predicting or computing the validation loss
PER_CALL = 256


@dataclass(frozen=True)
class NodeData:
    """Graphs with per-node targets and where each graph comes from.

    Attributes:
        graphs: the graphs; ``node_y`` [N, T] the per-node targets, ``u`` the graph
            features of models that read them, ``y`` per-graph targets when a kind has any.
        feature_names: the names of the columns of ``graphs.x``.
        event: int64 [G], an event id unique across the files read (the split's unit).
        ids: per-graph columns naming each graph in its input (``event`` as numbered in
            its file, the object index, ``file`` from several files).
        target_names: the names of the columns of ``graphs.node_y``.
        graph_feature_names: the names of the columns of ``graphs.u``.
    """

    graphs: GraphBatch
    feature_names: tuple[str, ...]
    event: np.ndarray
    ids: Mapping[str, np.ndarray]
    target_names: tuple[str, ...]
    graph_feature_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.graphs.num_graphs

    def select(self, indices: np.ndarray) -> NodeData:
        return NodeData(
            self.graphs.select(indices),
            self.feature_names,
            self.event[indices],
            {name: values[indices] for name, values in self.ids.items()},
            self.target_names,
            self.graph_feature_names,
        )

    def write(self, path: Path) -> Path:
        """The graphs with their targets and ids as a graph file (``e2e-gnn infer
        --graphs``): the ids join the outputs back to the inputs."""
        return write_graphs(
            path,
            self.graphs,
            feature_names=self.feature_names,
            graph_feature_names=self.graph_feature_names or None,
            node_target_names=self.target_names,
            **self.ids,
        )

    def describe(self, name: str) -> str:
        return (
            f"{name}: {len(self)} graphs, {self.graphs.num_nodes} nodes, from "
            f"{len(np.unique(self.event))} events"
        )


def _concatenate(parts: Sequence[GraphBatch]) -> GraphBatch:
    """The graphs of ``parts`` in order, as one batch (indices offset)."""
    nodes = np.cumsum([0] + [part.num_nodes for part in parts])
    graphs = np.cumsum([0] + [part.num_graphs for part in parts])

    def joined(name: str) -> np.ndarray | None:
        arrays = [getattr(part, name) for part in parts]
        if all(a is None for a in arrays):
            return None
        if any(a is None for a in arrays):
            msg = f"some of the graphs have {name!r} and some do not"
            raise TrainingDataError(msg)
        return np.concatenate(arrays)

    return GraphBatch(
        np.concatenate([part.x for part in parts]),
        np.concatenate(
            [part.edge_index + n for part, n in zip(parts, nodes, strict=False)], axis=1
        ),
        np.concatenate([part.batch + g for part, g in zip(parts, graphs, strict=False)]),
        int(graphs[-1]),
        joined("y"),
        joined("u"),
        joined("node_y"),
    )


def node_data(
    parts: Sequence[tuple[GraphBatch, Mapping[str, np.ndarray]]],
    feature_names: Sequence[str],
    target_names: Sequence[str],
    graph_feature_names: Sequence[str] = (),
) -> NodeData:
    """The graphs of several files (``(graphs, ids)`` per file, ``ids`` with an ``event``
    column numbered per file) as one NodeData: events become (file, event) pairs, and
    ``ids`` gain a ``file`` column (the position in the list) when there are several."""
    if not parts:
        msg = "no graphs to train on"
        raise TrainingDataError(msg)
    if any(part.node_y is None for part, _ in parts):
        msg = "node-level training needs per-node targets: graphs without node_y"
        raise TrainingDataError(msg)
    file_of = np.concatenate([np.full(len(part), i) for i, (part, _) in enumerate(parts)])
    names = list(parts[0][1])
    ids = {name: np.concatenate([columns[name] for _, columns in parts]) for name in names}
    _, event = np.unique(np.column_stack([file_of, ids["event"]]), axis=0, return_inverse=True)
    if len(parts) > 1:
        ids["file"] = file_of
    graphs = _concatenate([part for part, _ in parts])
    return NodeData(
        graphs,
        tuple(feature_names),
        event.reshape(-1).astype(np.int64),
        ids,
        tuple(target_names),
        tuple(graph_feature_names),
    )


def split_nodes_by_event(
    data: NodeData, validation_fraction: float, seed: int
) -> tuple[NodeData, NodeData]:
    """(training, validation): a seeded ``validation_fraction`` of the events, with all
    their graphs, is held out (the same rule as the frame taggers' split)."""
    is_validation = held_out(data.event, validation_fraction, seed)
    events = len(np.unique(data.event))
    for name, part in zip(("training", "validation"), (~is_validation, is_validation), strict=True):
        if not part.any():
            msg = (
                f"the {name} set is empty: {len(data)} graphs from {events} events with a "
                f"validation fraction of {validation_fraction}; give more events"
            )
            raise TrainingDataError(msg)
    return data.select(np.flatnonzero(~is_validation)), data.select(np.flatnonzero(is_validation))


@dataclass(frozen=True)
class Tensors:
    """A batch of graphs as torch tensors: the model ``inputs`` in the spec's order (x,
    edge_index, batch, and u when set), the targets, and the number of graphs."""

    inputs: tuple[Tensor, ...]
    node_y: Tensor | None
    y: Tensor | None
    num_graphs: int

    @property
    def x(self) -> Tensor:
        return self.inputs[0]

    @property
    def batch(self) -> Tensor:
        return self.inputs[2]

    @classmethod
    def of(cls, graphs: GraphBatch) -> Tensors:
        def tensor(a: np.ndarray | None) -> Tensor | None:
            return None if a is None else torch.from_numpy(np.ascontiguousarray(a))

        inputs = tuple(torch.from_numpy(a) for a in graphs.inputs().values())
        return cls(inputs, tensor(graphs.node_y), tensor(graphs.y), graphs.num_graphs)


@dataclass(frozen=True)
class NodeLevelKind:
    """What a node-level study brings to the pipeline.

    Attributes:
        read: input files -> NodeData (raise TrainingDataError naming the file).
        build: (training set, settings) -> the model, seeded by the caller, its input
            scaling set from the training set.
        graph_spec: training set -> the GraphSpec its checkpoint and export carry.
        loss: (model, batch, settings) -> the scalar training loss (with any regulariser).
        evaluate: (model, validation set, training set, output directory, settings) -> the
            study's metrics (JSON-serialisable), after writing its plots to the directory.
        loss_label: the y-axis label of the loss plot.
        summary: metrics (as ``metrics.json`` holds them) -> one line for the terminal.
    """

    read: Callable[[Sequence[Path]], NodeData]
    build: Callable[[NodeData, TrainSettings], torch.nn.Module]
    graph_spec: Callable[[NodeData], GraphSpec]
    loss: Callable[[torch.nn.Module, Tensors, TrainSettings], Tensor]
    evaluate: Callable[[torch.nn.Module, NodeData, NodeData, Path, TrainSettings], dict[str, Any]]
    loss_label: str = "loss"
    summary: Callable[[dict[str, Any]], str] | None = None


def node_kind(name: str) -> NodeLevelKind:
    """The registered kind ``name`` (imports its module)."""
    if name not in NODE_KINDS:
        msg = f"unknown node-level model kind {name!r}; choose from {sorted(NODE_KINDS)}"
        raise ValueError(msg)
    kind: NodeLevelKind = import_module(NODE_KINDS[name]).KIND
    return kind


def _chunks(graphs: GraphBatch, size: int) -> Iterator[GraphBatch]:
    for start in range(0, len(graphs), size):
        yield graphs.select(range(start, min(start + size, len(graphs))))


def _primary(output: Tensor | tuple[Tensor, ...]) -> Tensor:
    return output[0] if isinstance(output, tuple) else output


@torch.no_grad()
def predict_nodes(
    model: torch.nn.Module, graphs: GraphBatch, per_call: int = PER_CALL
) -> np.ndarray:
    """The model's primary (first) output for every node of ``graphs``, [N, C], in node
    order, ``per_call`` graphs at a time."""
    model.eval()
    return np.concatenate(
        [_primary(model(*Tensors.of(part).inputs)).numpy() for part in _chunks(graphs, per_call)]
    )


@torch.no_grad()
def _mean_loss(
    model: torch.nn.Module, kind: NodeLevelKind, data: NodeData, settings: TrainSettings
) -> float:
    """The loss over ``data`` in eval mode: per-call losses averaged by graph count."""
    model.eval()
    total = sum(
        kind.loss(model, Tensors.of(part), settings).item() * len(part)
        for part in _chunks(data.graphs, PER_CALL)
    )
    return total / len(data)


def fit_nodes(
    model: torch.nn.Module,
    kind: NodeLevelKind,
    training: NodeData,
    validation: NodeData,
    settings: TrainSettings,
    name: str,
) -> History:
    """Train ``model`` with Adam on shuffled mini-batches of ``settings.batch_size`` graphs;
    after every epoch a line with the training and validation losses is printed above the
    progress bar. Returns the losses per epoch (``validation_auc`` stays empty)."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    starts = range(0, len(training), settings.batch_size)
    history = History()
    with Progress(transient=True) as progress:
        task = progress.add_task(name, total=settings.epochs * len(starts))
        for epoch in range(settings.epochs):
            model.train()
            order = rng.permutation(len(training))
            total = 0.0
            for start in starts:
                part = training.graphs.select(order[start : start + settings.batch_size])
                loss = kind.loss(model, Tensors.of(part), settings)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(part)
                progress.update(
                    task, advance=1, description=f"{name} {epoch + 1}/{settings.epochs}"
                )
            history.train_loss.append(total / len(training))
            history.validation_loss.append(_mean_loss(model, kind, validation, settings))
            progress.console.print(
                f"{name} epoch {epoch + 1}/{settings.epochs}: loss {history.train_loss[-1]:.4g}, "
                f"validation loss {history.validation_loss[-1]:.4g}"
            )
    model.eval()
    return history


@dataclass(frozen=True)
class NodeRun:
    kind: NodeLevelKind
    model: torch.nn.Module
    history: History
    checkpoint: Path
    metrics: dict[str, Any]
    seconds: float  # training only


def train_node_level(
    inputs: Sequence[str | os.PathLike[str]],
    out: Path,
    kind_name: str,
    settings: TrainSettings,
    validation_fraction: float,
    console: Console,
) -> NodeRun:
    """Train the node-level model ``kind_name`` on ``inputs``; write ``<kind>.pt``,
    ``loss.png``, the kind's plots, ``metrics.json`` and the validation set (graphs with
    targets and ids, ``validation_graphs.parquet``) to ``out``.

    Raises TrainingDataError (a ValueError) for inputs the kind cannot read, before
    anything is trained or written.
    """
    kind = node_kind(kind_name)
    data = kind.read([Path(p) for p in inputs])
    console.print(
        f"read {len(data)} graphs, {data.graphs.num_nodes} nodes, features "
        f"{list(data.feature_names)}",
        soft_wrap=True,
    )
    training, validation = split_nodes_by_event(data, validation_fraction, settings.seed)
    del data
    console.print(
        f"{training.describe('training')}; {validation.describe('validation')}", soft_wrap=True
    )
    torch.manual_seed(settings.seed)
    model = kind.build(training, settings)
    start = time.perf_counter()
    history = fit_nodes(model, kind, training, validation, settings, kind_name)
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / f"{kind_name}.pt"
    provenance = {
        "data": ", ".join(str(path) for path in inputs),
        "training": f"e2e-gnn train, {training.describe('training set')}",
        "settings": settings.of(kind_name),
    }
    save_checkpoint(checkpoint, model, type(model).__name__, kind.graph_spec(training), provenance)
    plot_losses({MODEL_KINDS[kind_name]: history}, out / "loss.png", ylabel=kind.loss_label)
    results = kind.evaluate(model, validation, training, out, settings)
    graphs = validation.write(out / "validation_graphs.parquet")
    metrics = {
        "inputs": [str(path) for path in inputs],
        "features": list(training.feature_names),
        "validation_fraction": validation_fraction,
        "model": kind_name,
        "model_class": type(model).__name__,
        "checkpoint": checkpoint.name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "loss_per_epoch": {"training": history.train_loss, "validation": history.validation_loss},
        "training": _counts(training),
        "validation": _counts(validation),
        "settings": settings.of(kind_name),
        "training_seconds": round(seconds, 2),
        "validation_graphs": graphs.name,
        **results,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return NodeRun(kind, model, history, checkpoint, metrics, seconds)


def _counts(data: NodeData) -> dict[str, int]:
    return {
        "graphs": len(data),
        "nodes": data.graphs.num_nodes,
        "events": len(np.unique(data.event)),
    }
