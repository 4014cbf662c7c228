"""Train taggers on frames files (``e2e-gnn train``): labelled frames, split by event, each
model trained and validated on the same split; checkpoints, plots and metrics written.

Outputs in ``out``: ``<kind>.pt`` per model (for ``e2e-gnn export-onnx --checkpoint``),
``roc.png`` (validation ROC of all models), ``rejection.png`` (the same as background
rejection against signal efficiency), ``loss.png`` (losses per epoch),
``metrics.json`` (validation AUC and background rejection at 50 % and 80 % signal
efficiency, inclusive and in bins of the object pT when the frames carry it), and with the
GNN ``validation_graphs.root`` (for ``e2e-gnn infer``). The frames stay in their files and
are read ``chunk_size`` at a time (graph models keep the graphs of their non-zero pixels).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from e2e_gnn.train.data import (
    CHUNK_FRAMES,
    FrameChunks,
    read_frame_chunks,
    split_by_event,
    write_labelled_graphs,
)
from e2e_gnn.train.metrics import binned_performance, performance, quantile_edges
from e2e_gnn.train.plots import plot_losses, plot_rejection, plot_roc
from e2e_gnn.train.settings import MODEL_KINDS, TrainSettings
from e2e_gnn.train.taggers import TrainedModel, fit, prepare

__all__ = ["ModelResult", "TrainRun", "train_on_frames"]


@dataclass(frozen=True)
class ModelResult:
    trained: TrainedModel
    checkpoint: Path
    seconds: float  # building its inputs and training


@dataclass(frozen=True)
class TrainRun:
    out: Path
    models: dict[str, ModelResult]
    validation_graphs: Path | None


#: equally populated pT bins of the validation set in metrics.json
PT_BINS = 4


def _counts(frames: FrameChunks) -> dict[str, int]:
    return {
        "frames": len(frames),
        "signal": frames.signal,
        "events": len(np.unique(frames.event)),
    }


def _describe(name: str, frames: FrameChunks) -> str:
    counts = _counts(frames)
    return (
        f"{name}: {counts['frames']} frames ({counts['signal']} signal) "
        f"from {counts['events']} events"
    )


def train_on_frames(
    inputs: Sequence[str | os.PathLike[str]],
    out: Path,
    kinds: Sequence[str],
    settings: TrainSettings,
    validation_fraction: float,
    console: Console,
    chunk_size: int = CHUNK_FRAMES,
) -> TrainRun:
    """Train every model of ``kinds`` on the labelled frames of ``inputs``, read
    ``chunk_size`` frames at a time; write ``out``.

    Raises TrainingDataError (a ValueError) for inputs that are not labelled frames of
    both classes, before anything is trained or written.
    """
    frames, unlabelled = read_frame_chunks(inputs, chunk_size)
    console.print(
        f"found {len(frames)} labelled frames {['B', *frames.frame_shape]} of channels "
        f"{list(frames.channel_names)}; skipped {unlabelled} unlabelled (label < 0)",
        soft_wrap=True,
    )
    training, validation = split_by_event(frames, validation_fraction, settings.seed)
    console.print(
        f"{_describe('training', training)}; {_describe('validation', validation)}", soft_wrap=True
    )
    jobs, seconds = {}, {}
    for kind in kinds:
        start = time.perf_counter()
        jobs[kind] = prepare(kind, training, validation, settings)
        seconds[kind] = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    models = {}
    for kind, job in jobs.items():
        start = time.perf_counter()
        trained = fit(job, settings)
        provenance = {
            "data": ", ".join(str(path) for path in inputs),
            "training": f"e2e-gnn train, {_describe('training set', training)}",
            "settings": settings.of(kind),
        }
        trained.save(out / f"{kind}.pt", provenance)
        seconds[kind] += time.perf_counter() - start
        models[kind] = ModelResult(trained, out / f"{kind}.pt", seconds[kind])
    plot_roc(
        validation.label,
        {MODEL_KINDS[kind]: result.trained.scores for kind, result in models.items()},
        out / "roc.png",
    )
    plot_rejection(
        validation.label,
        {MODEL_KINDS[kind]: result.trained.scores for kind, result in models.items()},
        out / "rejection.png",
    )
    plot_losses(
        {MODEL_KINDS[kind]: result.trained.history for kind, result in models.items()},
        out / "loss.png",
    )
    graphs = None
    if "edgeconv" in jobs:
        job = jobs["edgeconv"]
        assert job.graph is not None
        graphs = write_labelled_graphs(
            out / "validation_graphs.root", job.validation, job.graph, validation.ids
        )
    metrics = {
        "inputs": [str(path) for path in inputs],
        "channels": list(training.channel_names),
        "frame_shape": list(training.frame_shape),
        "chunk_size": chunk_size,
        "unlabelled_skipped": unlabelled,
        "validation_fraction": validation_fraction,
        "models": {
            kind: _model_metrics(result, settings.of(kind), training, validation)
            for kind, result in models.items()
        },
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return TrainRun(out, models, graphs)


def _model_metrics(
    result: ModelResult,
    settings: dict[str, Any],
    training: FrameChunks,
    validation: FrameChunks,
) -> dict[str, Any]:
    history = result.trained.history
    scores = result.trained.scores
    table = performance(validation.label, scores)
    if "pt" in validation.columns:
        pt = validation.columns["pt"]
        table["pt_bins"] = binned_performance(
            validation.label, scores, pt, quantile_edges(pt, PT_BINS)
        )
    return {
        "model_class": type(result.trained.job.model).__name__,
        "checkpoint": result.checkpoint.name,
        "parameters": result.trained.job.parameters,
        "validation_auc": result.trained.auc,
        "validation_performance": table,
        "loss_per_epoch": {"training": history.train_loss, "validation": history.validation_loss},
        "validation_auc_per_epoch": history.validation_auc,
        "training": _counts(training),
        "validation": _counts(validation),
        "settings": settings,
        "seconds": round(result.seconds, 2),
    }
