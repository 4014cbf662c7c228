"""The taggers trained on frames, by kind: ``edgeconv`` (the EdgeConv GNN on kNN graphs of
the non-zero pixels), ``arma`` (the displaced-photon study's ARMAConv GNN on layered
threshold graphs), ``cnn`` (the small residual CNN), ``resnet15`` (the CMS E2E ResNet-15)
and ``cnn3d`` (the displaced-photon study's 3D CNN on layered images). All scale their
inputs inside the model from the training data, so a deployment feeds raw inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from e2e_gnn.batch import Batch
from e2e_gnn.frames.batch import FrameBatch
from e2e_gnn.nn.models import (
    ARMATagger,
    EdgeConvTagger,
    FrameCNNTagger,
    LayeredCNNTagger,
    ResNet15Tagger,
)
from e2e_gnn.spec import GraphSpec
from e2e_gnn.train.checkpoint import save_checkpoint
from e2e_gnn.train.data import (
    FrameEdges,
    LabelledFrames,
    TrainingDataError,
    frame_graph_spec,
    frame_graphs,
)
from e2e_gnn.train.settings import LAYERED_ONLY, MODEL_KINDS, PLAIN_ONLY, TrainSettings
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


def _frame_job(
    kind: str,
    model: FrameCNNTagger | ResNet15Tagger | LayeredCNNTagger,
    training: LabelledFrames,
    validation: LabelledFrames,
) -> TrainingJob:
    model.set_channel_scaling(torch.from_numpy(training.data))
    frame = {"shape": list(training.data.shape[1:]), "channels": list(training.channel_names)}
    return TrainingJob(
        kind,
        model,
        FrameBatch(training.data, training.label),
        FrameBatch(validation.data, validation.label),
        frame=frame,
    )


def _check_frame_rank(kind: str, frames: LabelledFrames) -> None:
    shape = ["B", *frames.data.shape[1:]]
    if kind in LAYERED_ONLY and not frames.layered:
        msg = (
            f"the {kind} model takes layered frames [B, C, L, H, W] (`e2e-gnn frames --kind "
            f"layered`), these are {shape}: train them with {', '.join(PLAIN_ONLY)} or edgeconv"
        )
        raise TrainingDataError(msg)
    if kind in PLAIN_ONLY and frames.layered:
        msg = (
            f"the {kind} model takes frames [B, C, H, W], these are layered {shape}: "
            f"train them with {', '.join(LAYERED_ONLY)}, arma or edgeconv"
        )
        raise TrainingDataError(msg)


def prepare(
    kind: str, training: LabelledFrames, validation: LabelledFrames, settings: TrainSettings
) -> TrainingJob:
    """The ``kind`` model, initialised with ``settings.seed``, its input scaling set from
    ``training``, and both sets as the model takes them."""
    if kind not in MODEL_KINDS:
        msg = f"unknown model kind {kind!r}; choose from {sorted(MODEL_KINDS)}"
        raise ValueError(msg)
    _check_frame_rank(kind, training)
    torch.manual_seed(settings.seed)
    if kind in ("edgeconv", "arma"):
        edges = (
            FrameEdges("knn", k=settings.knn)
            if kind == "edgeconv"
            else FrameEdges("threshold", 0, settings.same_layer, settings.adjacent_layer)
        )
        spec = frame_graph_spec(training, edges)
        graphs = frame_graphs(training, edges)
        model: torch.nn.Module
        if kind == "edgeconv":
            model = EdgeConvTagger(
                len(spec.feature_names), hidden=settings.hidden, num_layers=settings.layers
            )
            model.set_feature_scaling(torch.from_numpy(graphs.x))
        else:  # the input BatchNorm standardises the features
            model = ARMATagger(len(spec.feature_names), settings.hidden, settings.stacks)
        return TrainingJob(kind, model, graphs, frame_graphs(validation, edges), graph=spec)
    channels = len(training.channel_names)
    frame_model: FrameCNNTagger | ResNet15Tagger | LayeredCNNTagger
    if kind == "cnn":
        frame_model = FrameCNNTagger(channels, width=settings.width, num_blocks=settings.blocks)
    elif kind == "resnet15":
        frame_model = ResNet15Tagger(channels, maps=(settings.width, 2 * settings.width))
    else:
        _, layers, height, width = training.data.shape[1:]
        frame_model = LayeredCNNTagger(
            channels,
            layers,
            height,
            width,
            width_channels=settings.width,
            dense=settings.dense,
            batch_norm=settings.batch_norm,
        )
    return _frame_job(kind, frame_model, training, validation)


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
