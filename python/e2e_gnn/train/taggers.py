"""The taggers trained on frames, by kind: ``edgeconv`` (the EdgeConv GNN on kNN graphs of
the non-zero pixels), ``arma`` (the displaced-photon study's ARMAConv GNN on layered
threshold graphs), ``cnn`` (the small residual CNN), ``resnet15`` (the CMS E2E ResNet-15)
and ``cnn3d`` (the displaced-photon study's 3D CNN on layered images). All scale their
inputs inside the model from the training data, so a deployment feeds raw inputs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from e2e_gnn.batch import Batch
from e2e_gnn.frames.batch import FrameBatch
from e2e_gnn.nn.frame_scaling import channel_rms
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
    ChunkedFrameBatch,
    FrameChunks,
    FrameEdges,
    LabelledFrames,
    TrainingDataError,
    frame_graph_spec,
    frame_graphs,
)
from e2e_gnn.train.reweight import parse_reweight, reweight
from e2e_gnn.train.settings import LAYERED_ONLY, MODEL_KINDS, PLAIN_ONLY, TrainSettings
from e2e_gnn.train.trainer import History, Source, train

__all__ = ["TrainedModel", "TrainingJob", "fit", "prepare"]


@dataclass(frozen=True)
class TrainingJob:
    """A model with its training and validation inputs, and the spec of those inputs
    (``graph`` for a graph model, ``frame`` for a frame model) its checkpoint keeps; the
    training items' loss ``weights`` when the settings reweight."""

    kind: str
    model: torch.nn.Module
    training: Batch | Source
    validation: Batch | Source
    graph: GraphSpec | None = None
    frame: dict[str, Any] | None = None
    weights: np.ndarray | None = None

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


Frames = LabelledFrames | FrameChunks


def _channel_scale(frames: Frames) -> torch.Tensor:
    """:func:`channel_rms` of all frames, combined chunk by chunk: the mean square of the
    non-zero pixels of each chunk, weighted by their number (in memory: one chunk)."""
    chunks = frames.chunks()
    if len(chunks) == 1:
        return channel_rms(torch.from_numpy(frames.read(chunks[0])))
    squares = hits = torch.zeros(len(frames.channel_names), dtype=torch.float64)
    for items in chunks:
        data = torch.from_numpy(frames.read(items))
        dims = (0, *range(2, data.dim()))
        count = (data != 0).sum(dim=dims).double()
        squares = squares + channel_rms(data).double().square() * count
        hits = hits + count
    rms = (squares / hits.clamp(min=1)).sqrt().float()
    return torch.where(hits > 0, rms.clamp(min=1e-6), 1.0)


def _frame_job(
    kind: str,
    model: FrameCNNTagger | ResNet15Tagger | LayeredCNNTagger,
    training: Frames,
    validation: Frames,
) -> TrainingJob:
    model.set_channel_scaling(_channel_scale(training))
    frame = {"shape": list(training.frame_shape), "channels": list(training.channel_names)}
    return TrainingJob(kind, model, _frame_input(training), _frame_input(validation), frame=frame)


def _frame_input(frames: Frames) -> FrameBatch | ChunkedFrameBatch:
    if isinstance(frames, FrameChunks):
        return ChunkedFrameBatch(frames)
    return FrameBatch(frames.data, frames.label)


def _check_frame_rank(kind: str, frames: Frames) -> None:
    shape = ["B", *frames.frame_shape]
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
    kind: str, training: Frames, validation: Frames, settings: TrainSettings
) -> TrainingJob:
    """The ``kind`` model, initialised with ``settings.seed``, its input scaling set from
    ``training``, both sets as the model takes them (frames in memory, or read chunk by
    chunk from :class:`FrameChunks`), and the training weights when ``settings.reweight``."""
    if kind not in MODEL_KINDS:
        msg = f"unknown model kind {kind!r}; choose from {sorted(MODEL_KINDS)}"
        raise ValueError(msg)
    _check_frame_rank(kind, training)
    if not settings.reweight:
        return _prepare(kind, training, validation, settings)
    try:  # before the (costly) inputs are built: a wrong option fails at once
        spec = parse_reweight(settings.reweight)
        weights = reweight(training.columns, training.label, spec, "the training frames")
    except ValueError as err:
        raise TrainingDataError(str(err)) from err
    return replace(_prepare(kind, training, validation, settings), weights=weights)


def _prepare(
    kind: str, training: Frames, validation: Frames, settings: TrainSettings
) -> TrainingJob:
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
        _, layers, height, width = training.frame_shape
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
        weights=job.weights,
    )
    return TrainedModel(job, history)
