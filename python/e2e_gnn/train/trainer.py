"""A small, honest trainer for binary taggers of graphs or frames: shuffled mini-batches,
BCE (optionally weighted per item), a progress bar, and the validation loss and ROC AUC
after every epoch.

The items come in memory (a GraphBatch or FrameBatch) or chunk by chunk (a :class:`Source`
such as :class:`~e2e_gnn.train.data.ChunkedFrameBatch`, frames read from their files). The
data order of an epoch is defined per chunk, as weaver's loader does: the chunks in a seeded
random order, the items of each chunk shuffled, mini-batches within a chunk. Items in
memory are one chunk (a plain shuffle); a source over the same items with the same chunks
trains the same model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

import numpy as np
import torch
from rich.progress import Progress

from e2e_gnn.batch import Batch
from e2e_gnn.train.metrics import roc_auc

BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
# BatchNorm statistics after each epoch come from this many training items (frames have
# ~10^4 pixels each, so a few hundred give stable means and variances)
RECALIBRATION_ITEMS = 256


@dataclass
class History:
    """Per-epoch mean losses and validation AUC, and the validation logits [B, classes]
    after the last epoch; validation entries stay empty without a validation set."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    validation_auc: list[float] = field(default_factory=list)
    validation_logits: np.ndarray | None = None


class Source(Protocol):
    """Items read a chunk at a time: labels ``y`` of all items, the items of each chunk
    (``chunks()``), and ``open(items)``: a batch holding one chunk's items with their
    positions in it."""

    @property
    def y(self) -> np.ndarray: ...

    def chunks(self) -> Sequence[np.ndarray]: ...

    def open(self, items: np.ndarray) -> tuple[Batch, np.ndarray]: ...


@dataclass(frozen=True)
class InMemory:
    """A batch in memory as a :class:`Source`: one chunk of all items unless ``item_chunks``
    (to train in the order a chunked source of the same items gives)."""

    batch: Batch
    item_chunks: Sequence[np.ndarray] | None = None

    @property
    def y(self) -> np.ndarray:
        return _labels(self.batch, "training")

    def chunks(self) -> Sequence[np.ndarray]:
        return self.item_chunks or [np.arange(len(self.batch))]

    def open(self, items: np.ndarray) -> tuple[Batch, np.ndarray]:
        return self.batch, items


def _source(data: Batch | Source) -> Source:
    return cast(Source, data) if hasattr(data, "chunks") else InMemory(data)


def epoch_chunks(chunks: Sequence[np.ndarray], rng: np.random.Generator) -> Iterator[np.ndarray]:
    """The items of an epoch, chunk by chunk: chunks in random order, items shuffled in
    each (one chunk: a plain permutation, as ``rng.permutation(n)`` gives)."""
    order = [0] if len(chunks) == 1 else rng.permutation(len(chunks)).tolist()
    for i in order:
        yield rng.permutation(chunks[i])


def _tensors(batch: Batch) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in batch.inputs().values())


def _labels(batch: Batch, role: str) -> np.ndarray:
    if batch.y is None:
        msg = f"train needs per-item labels for the {role} set: its batch has y = None"
        raise ValueError(msg)
    return batch.y


def train(
    model: torch.nn.Module,
    batch: Batch | Source,
    epochs: int = 5,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
    validation: Batch | Source | None = None,
    name: str = "training",
    recalibrate_batch_norm: bool = True,
    weights: np.ndarray | None = None,
) -> History:
    """Train a binary tagger on the graphs or frames of ``batch`` (labels in ``batch.y``),
    in memory or a :class:`Source` read chunk by chunk.

    ``weights`` (float [items], e.g. :func:`~e2e_gnn.train.reweight.reweight`) weight each
    item's loss (the training loss is their weighted mean); the validation loss and AUC are
    unweighted. After every epoch, BatchNorm statistics are recomputed on training items
    (the first ones of the epoch's first chunk) with the epoch's final weights (unless
    ``recalibrate_batch_norm`` is False, which keeps torch's running averages: for the
    measurement in docs/physics.md), and a line with the training loss (and the validation
    loss and ROC AUC when ``validation`` is given) is printed above the progress bar.
    """
    source = _source(batch)
    labels = source.y
    validation_labels = None
    if validation is not None:
        validation_labels = (
            validation.y if hasattr(validation, "chunks") else _labels(validation, "validation")
        )
    if weights is not None and len(weights) != len(labels):
        msg = f"train got {len(weights)} weights for {len(labels)} training items"
        raise ValueError(msg)
    item_weights = torch.from_numpy(np.asarray(weights if weights is not None else [], np.float32))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    item_loss = torch.nn.BCEWithLogitsLoss(reduction="none")
    chunks = source.chunks()
    steps = sum(-(-len(items) // batch_size) for items in chunks)
    history = History()
    with Progress(transient=True) as progress:
        task = progress.add_task(name, total=epochs * steps)
        for epoch in range(epochs):
            model.train()
            total, first = 0.0, None
            for items in epoch_chunks(chunks, rng):
                data, positions = source.open(items)
                first = first or (data, positions[:RECALIBRATION_ITEMS])
                for start in range(0, len(items), batch_size):
                    part = data.select(positions[start : start + batch_size].tolist())
                    logits = model(*_tensors(part))[:, 0]
                    target = torch.from_numpy(part.y)
                    if weights is None:
                        loss = loss_fn(logits, target)
                    else:
                        w = item_weights[items[start : start + batch_size]]
                        loss = (item_loss(logits, target) * w).sum() / len(w)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * len(logits)
                    progress.update(task, advance=1, description=f"{name} {epoch + 1}/{epochs}")
            history.train_loss.append(total / len(labels))
            if recalibrate_batch_norm and first is not None:
                _recalibrate_batch_norm(model, first[0], first[1], batch_size)
            report = f"{name} epoch {epoch + 1}/{epochs}: loss {history.train_loss[-1]:.3f}"
            if validation is not None and validation_labels is not None:
                history.validation_logits = predict_logits(model, validation)
                logits = history.validation_logits[:, 0]
                loss = loss_fn(torch.from_numpy(logits), torch.from_numpy(validation_labels))
                history.validation_loss.append(loss.item())
                history.validation_auc.append(roc_auc(validation_labels, logits))
                report += (
                    f", validation loss {history.validation_loss[-1]:.3f}, "
                    f"AUC {history.validation_auc[-1]:.3f}"
                )
            progress.console.print(report)
    model.eval()
    return history


def _chunks(batch: Batch, size: int) -> Iterator[Batch]:
    for start in range(0, len(batch), size):
        yield batch.select(range(start, min(start + size, len(batch))))


@torch.no_grad()
def _recalibrate_batch_norm(
    model: torch.nn.Module, batch: Batch, items: np.ndarray, items_per_call: int
) -> None:
    """Set the running statistics of BatchNorm layers to their averages over the ``items``
    of ``batch`` with the current weights. The running averages (from mean 0, variance 1,
    10 % per step) lag far behind in a short training: a CNN on 130 toy frames scored a
    validation AUC of 0.0 in eval mode after 16 steps, 1.0 once recalibrated."""
    norms = [m for m in model.modules() if isinstance(m, BATCH_NORMS)]
    if not norms:
        return
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the calls below
    model.train()
    for chunk in _chunks(batch.select(items.tolist()), items_per_call):
        model(*_tensors(chunk))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, batch: Batch | Source, items_per_call: int = 256
) -> np.ndarray:
    """Logits [B, classes] of every graph or frame (in memory or chunk by chunk, in item
    order), ``items_per_call`` at a time."""
    model.eval()
    if not hasattr(batch, "chunks"):
        return np.concatenate(
            [model(*_tensors(chunk)).numpy() for chunk in _chunks(batch, items_per_call)]
        )
    source = cast(Source, batch)
    parts, order = [], []
    for items in source.chunks():
        data, positions = source.open(items)
        parts.append(predict_logits(model, data.select(positions.tolist()), items_per_call))
        order.append(items)
    logits = np.empty((sum(len(p) for p in parts), parts[0].shape[1]), np.float32)
    logits[np.concatenate(order)] = np.concatenate(parts)
    return logits
