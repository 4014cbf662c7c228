"""A small, honest trainer for graph taggers: shuffled mini-batches, BCE, progress bar."""

from __future__ import annotations

import numpy as np
import torch
from rich.progress import Progress

from e2e_gnn.graphs.batch import GraphBatch


def _tensors(batch: GraphBatch) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in batch.inputs().values())


def train(
    model: torch.nn.Module,
    graphs: GraphBatch,
    epochs: int = 5,
    lr: float = 3e-3,
    graphs_per_batch: int = 64,
    seed: int = 0,
) -> list[float]:
    """Train a binary tagger on ``graphs`` (labels in ``graphs.y``); returns epoch losses."""
    if graphs.y is None:
        msg = "train needs per-graph labels: GraphBatch.y is None"
        raise ValueError(msg)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    starts = range(0, graphs.num_graphs, graphs_per_batch)
    losses = []
    model.train()
    with Progress(transient=True) as progress:
        task = progress.add_task("training", total=epochs * len(starts))
        for epoch in range(epochs):
            order = rng.permutation(graphs.num_graphs)
            total = 0.0
            for start in starts:
                batch = graphs.select(order[start : start + graphs_per_batch].tolist())
                logits = model(*_tensors(batch))[:, 0]
                loss = loss_fn(logits, torch.from_numpy(batch.y))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * batch.num_graphs
                progress.update(task, advance=1, description=f"epoch {epoch + 1}/{epochs}")
            losses.append(total / graphs.num_graphs)
    model.eval()
    return losses


@torch.no_grad()
def predict_logits(model: torch.nn.Module, graphs: GraphBatch) -> np.ndarray:
    return model.eval()(*_tensors(graphs)).numpy()
