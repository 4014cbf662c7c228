"""Scatter-free aggregation for target-sorted graphs with at most ``k`` edges per target.

kNN graph builders emit edges grouped by target, ``min(k, n - 1)`` (or ``min(k, n)`` with
self loops) per node of an n-node graph. Such a graph is laid out as a dense ``[N, k]``
table of source nodes plus a validity mask (slots past a node's in-degree, e.g. in graphs
with fewer than k + 1 nodes, are masked), and every reduction becomes a Gather followed by a
masked reduce over the k axis. The in-degrees come from the sorted order itself (where each
target's run of edges starts and ends), so the exported graph has no scatter reduction at
all: exact under any ONNX Runtime thread count, for any in-degree between 0 and k (also
E = 0).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from e2e_gnn.nn.scatter import gather


class NeighborTable:
    """Dense neighbour table: up to ``k`` source nodes per target node, with a mask.

    Built from a target-sorted edge_index with :meth:`from_edge_index`, or directly from a
    kNN search (:func:`e2e_gnn.nn.knn.knn_table`).

    Args:
        neighbors (Tensor): int64 ``[N, k]``: source node of each slot (any valid node index
            for masked slots, so that gathers stay in range).
        valid (Tensor): bool ``[N, k]``: whether the slot holds an edge.
    """

    def __init__(self, neighbors: Tensor, valid: Tensor) -> None:
        self.neighbors = neighbors
        self.valid = valid
        self.degree = valid.to(torch.float32).sum(1)  # [N]
        self.k = neighbors.size(1)

    @classmethod
    def from_edge_index(
        cls, edge_index: Tensor, num_nodes: int | torch.SymInt, k: int
    ) -> NeighborTable:
        """Table of a graph whose edges are grouped by target in increasing order with at
        most ``k`` edges per target (what kNN builders emit; checked in eager mode).

        Args:
            edge_index (Tensor): int64 ``[2, E]`` (source, target).
            num_nodes (int or SymInt): N, normally ``x.size(0)``.
            k (int): maximum in-degree (the kNN ``k``, plus one with self loops).
        """
        source, target = edge_index[0], edge_index[1]
        if not torch.compiler.is_exporting():
            _check_layout(target, num_nodes, k)
        first, count = sorted_runs(target, num_nodes)
        slots = torch.arange(k, device=edge_index.device)
        valid = slots.view(1, -1) < count.view(-1, 1)
        position = first.view(-1, 1) + slots.view(1, -1)
        # Masked slots read a padding entry appended after the E edges (exact for E = 0).
        position = torch.where(valid, position, torch.full_like(position, target.size(0)))
        padded = torch.cat([source, source.new_zeros(1)])
        return cls(gather(padded, position), valid)

    def gather(self, values: Tensor) -> Tensor:
        """``values[neighbors]``: node values ``[N, *]`` -> per-slot values ``[N, k, *]``."""
        return gather(values, self.neighbors)

    def reduce(self, messages: Tensor, reduce: str) -> Tensor:
        """Reduces per-slot messages ``[N, k, *]`` over the valid slots -> ``[N, *]``.

        ``reduce`` is ``"sum"``/``"add"``, ``"mean"``, ``"max"`` or ``"min"``; nodes without
        edges get 0, as with :func:`e2e_gnn.nn.scatter`.
        """
        shape = (*self.valid.shape, *(1,) * (messages.dim() - 2))
        valid = self.valid.view(shape)
        if reduce in ("sum", "add", "mean"):
            # Multiplying by a 0/1 mask broadcasts cheaply (Where over [N, k, F] is slow in
            # ONNX Runtime); masked slots hold finite values computed from a valid node.
            out = (messages * valid.to(messages.dtype)).sum(1)
            if reduce == "mean":
                out = out / self.degree.clamp(min=1).view((-1,) + (1,) * (out.dim() - 1))
            return out
        if reduce not in ("max", "min"):
            msg = f"NeighborTable.reduce: unknown reduce {reduce!r}; use sum, mean, max or min"
            raise ValueError(msg)
        # Adding 0 (valid) or -inf/+inf (masked) is exact and broadcasts like the mask above.
        infinity = float("-inf") if reduce == "max" else float("inf")
        zero = torch.zeros((), dtype=messages.dtype, device=messages.device)
        offset = torch.where(valid, zero, torch.full_like(zero, infinity))
        picked = messages + offset
        out = picked.amax(1) if reduce == "max" else picked.amin(1)
        has_edge = (self.degree > 0).view((-1,) + (1,) * (out.dim() - 1))
        return torch.where(has_edge, out, torch.zeros_like(out))


def sorted_runs(target: Tensor, num_nodes: int | torch.SymInt) -> tuple[Tensor, Tensor]:
    """Where each node's run of edges starts in ``target`` (sorted in increasing order) and
    how long it is: ``(first [N], count [N])`` int64, ``(0, 0)`` for nodes without edges.

    No scatter reduction (which ONNX Runtime runs racily on several threads): the first and
    the last edge of each run write their position to their node with a plain
    ``index_put`` (ONNX ScatterND without reduction), every other edge to a spill slot of
    its own past the N nodes, so no two writes meet.
    """
    position = torch.arange(target.size(0), device=target.device)
    edge = torch.full_like(target[:1], -1)
    before = torch.cat([edge, target])[: target.size(0)]
    after = torch.cat([target, edge])[1:]
    spill = position + num_nodes
    buffer = torch.zeros(num_nodes + target.size(0), dtype=torch.long, device=target.device)
    starts = torch.where(target != before, target, spill)
    ends = torch.where(target != after, target, spill)
    first = torch.index_put(buffer, (starts,), position)[:num_nodes]
    end = torch.index_put(buffer, (ends,), position + 1)[:num_nodes]
    return first, end - first


def _check_layout(target: Tensor, num_nodes: int | torch.SymInt, k: int) -> None:
    """Eager-only check of the layout the table relies on (it would silently drop edges).

    Runs in NumPy so that it stays out of traced graphs and of export linting."""
    order = target.detach().cpu().numpy()
    if order.size == 0:
        return
    if (np.diff(order) < 0).any():
        msg = (
            "fixed-degree aggregation needs edges grouped by target in increasing order "
            "(as kNN graph builders emit them); sort edge_index by edge_index[1] or build "
            "the layer without fixed_degree"
        )
        raise ValueError(msg)
    most = int(np.bincount(order, minlength=int(num_nodes)).max())
    if most > k:
        msg = (
            f"fixed-degree aggregation with k={k!r} got a node with {most} incoming edges; "
            f"pass the graph's maximum in-degree (k, plus one with self loops)"
        )
        raise ValueError(msg)
