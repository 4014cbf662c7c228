"""The taggers trained on frames, by kind: ``edgeconv`` (the EdgeConv GNN on kNN graphs of
the non-zero pixels) and ``cnn`` (the CNN on the frames themselves). Both scale their
inputs inside the model from the training data, so a deployment feeds raw inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from e2e_gnn.batch import Batch
from e2e_gnn.frames.batch import FrameBatch
from e2e_gnn.nn.models import EdgeConvTagger, FrameCNNTagger
from e2e_gnn.spec import GraphSpec
from e2e_gnn.train.checkpoint import save_checkpoint
from e2e_gnn.train.data import LabelledFrames, TrainingDataError, frame_graph_spec, frame_graphs
from e2e_gnn.train.settings import MODEL_KINDS, TrainSettings
from e2e_gnn.train.trainer import History, train

__all__ = ["TrainedModel", "TrainingJob", "fit", "prepare"]


@dataclass(frozen=True)
class TrainingJob:
    """A model with its training and validation inputs, and the spec of those inputs
    (``graph`` for a graph model, ``frame`` for a frame model) its checkpoint keeps."""

    kind: str
    model: torch.nn.Module
    training: Batch
    validation: Batch
    graph: GraphSpec | None = None
    frame: dict[str, Any] | None = None

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


@dataclass(frozen=True)
class TrainedModel:
    job: TrainingJob
    history: History

    @property
    def scores(self) -> np.ndarray:
        """Validation scores (probabilities) after the last epoch."""
        assert self.history.validation_logits is not None
        return torch.sigmoid(torch.from_numpy(self.history.validation_logits[:, 0])).numpy()

    @property
    def auc(self) -> float:
        return self.history.validation_auc[-1]

    def save(self, path: str | Path, provenance: dict[str, Any]) -> None:
        job = self.job
        model_class = type(job.model).__name__
        save_checkpoint(path, job.model, model_class, job.graph, provenance, frame=job.frame)


def prepare(
    kind: str, training: LabelledFrames, validation: LabelledFrames, settings: TrainSettings
) -> TrainingJob:
    """The ``kind`` model, initialised with ``settings.seed``, its input scaling set from
    ``training``, and both sets as the model takes them."""
    torch.manual_seed(settings.seed)
    if kind == "edgeconv":
        spec = frame_graph_spec(training, settings.knn)
        graphs = frame_graphs(training, settings.knn)
        model = EdgeConvTagger(
            len(spec.feature_names), hidden=settings.hidden, num_layers=settings.layers
        )
        model.set_feature_scaling(torch.from_numpy(graphs.x))
        return TrainingJob(kind, model, graphs, frame_graphs(validation, settings.knn), graph=spec)
    if kind == "cnn":
        if training.layered:
            msg = (
                "the CNN takes frames [B, C, H, W], these are layered "
                f"{['B', *training.data.shape[1:]]}: train them with the edgeconv model"
            )
            raise TrainingDataError(msg)
        model = FrameCNNTagger(
            len(training.channel_names), width=settings.width, num_blocks=settings.blocks
        )
        model.set_channel_scaling(torch.from_numpy(training.data))
        frame = {"shape": list(training.data.shape[1:]), "channels": list(training.channel_names)}
        return TrainingJob(
            kind,
            model,
            FrameBatch(training.data, training.label),
            FrameBatch(validation.data, validation.label),
            frame=frame,
        )
    msg = f"unknown model kind {kind!r}; choose from {sorted(MODEL_KINDS)}"
    raise ValueError(msg)


def fit(job: TrainingJob, settings: TrainSettings) -> TrainedModel:
    """Train ``job.model`` on its training set, validating after every epoch."""
    history = train(
        job.model,
        job.training,
        epochs=settings.epochs,
        lr=settings.lr,
        batch_size=settings.batch_size,
        seed=settings.seed,
        validation=job.validation,
        name=job.kind,
    )
    return TrainedModel(job, history)
