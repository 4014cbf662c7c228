"""Train taggers on frames files (``e2e-gnn train``): labelled frames, split by event, each
model trained and validated on the same split; checkpoints, plots and metrics written.

Outputs in ``out``: ``<kind>.pt`` per model (for ``e2e-gnn export-onnx --checkpoint``),
``roc.png`` (validation ROC of all models), ``loss.png`` (losses per epoch),
``metrics.json``, and with the GNN ``validation_graphs.root`` (for ``e2e-gnn infer``).
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
    LabelledFrames,
    read_labelled_frames,
    split_by_event,
    write_labelled_graphs,
)
from e2e_gnn.train.plots import plot_losses, plot_roc
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


def _counts(frames: LabelledFrames) -> dict[str, int]:
    return {
        "frames": len(frames),
        "signal": frames.signal,
        "events": len(np.unique(frames.event)),
    }


def _describe(name: str, frames: LabelledFrames) -> str:
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
) -> TrainRun:
    """Train every model of ``kinds`` on the labelled frames of ``inputs``; write ``out``.

    Raises TrainingDataError (a ValueError) for inputs that are not labelled frames of
    both classes, before anything is trained or written.
    """
    frames, unlabelled = read_labelled_frames(inputs)
    console.print(
        f"read {len(frames)} labelled frames {['B', *frames.data.shape[1:]]} of channels "
        f"{list(frames.channel_names)}; skipped {unlabelled} unlabelled (label < 0)",
        soft_wrap=True,
    )
    training, validation = split_by_event(frames, validation_fraction, settings.seed)
    del frames  # training and validation hold copies
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
        "frame_shape": list(training.data.shape[1:]),
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
    training: LabelledFrames,
    validation: LabelledFrames,
) -> dict[str, Any]:
    history = result.trained.history
    return {
        "model_class": type(result.trained.job.model).__name__,
        "checkpoint": result.checkpoint.name,
        "parameters": result.trained.job.parameters,
        "validation_auc": result.trained.auc,
        "loss_per_epoch": {"training": history.train_loss, "validation": history.validation_loss},
        "validation_auc_per_epoch": history.validation_auc,
        "training": _counts(training),
        "validation": _counts(validation),
        "settings": settings,
        "seconds": round(result.seconds, 2),
    }
