"""k nearest neighbours computed inside the model, so that it exports to ONNX.

Pairwise squared distances (one matrix product), +inf between nodes of different graphs,
and TopK: ONNX MatMul/Where/TopK/Gather, no data-dependent shapes. Memory and time are
quadratic in the number of nodes of the whole batch (N x N), which is what makes the
result exact and exportable; use the precomputed graph builders for very large batches.
"""

from __future__ import annotations

import torch
from torch import Tensor

from e2e_gnn.nn.fixed_degree import NeighborTable


def knn_table(pos: Tensor, batch: Tensor | None, k: int) -> NeighborTable:
    """For every node, its ``k`` nearest nodes of the same graph in ``pos``, itself included
    (distance 0), as ``torch_geometric.nn.knn(pos, pos, k, batch, batch)`` finds them.

    Nodes of graphs with fewer than ``k`` nodes get all the nodes of their graph and masked
    slots for the rest, so every reduction over the table stays exact.

    Args:
        pos (Tensor): float ``[N, D]`` coordinates (e.g. learned space).
        batch (Tensor, optional): int64 ``[N]`` graph of each node; one graph if ``None``.
        k (int): neighbours per node, self included.

    Returns:
        NeighborTable with ``neighbors [N, k]``, ``valid [N, k]``; slot 0 is the node itself.
    """
    if pos.dim() != 2:
        msg = f"knn_table: `pos` must be [N, D], got shape {tuple(pos.shape)!r}"
        raise ValueError(msg)
    if batch is not None and (batch.dim() != 1 or batch.size(0) != pos.size(0)):
        msg = (
            f"knn_table: `batch` must be [N] with N = pos.size(0) = {pos.size(0)}, got "
            f"shape {tuple(batch.shape)!r}"
        )
        raise ValueError(msg)
    if k < 1:
        msg = f"knn_table: `k` must be a positive int, got {k!r}"
        raise ValueError(msg)
    num_nodes = pos.size(0)
    square = (pos * pos).sum(-1)
    dist = square.view(-1, 1) + square.view(1, -1) - 2.0 * (pos @ pos.t())
    nodes = torch.arange(num_nodes, device=pos.device)
    # The node itself comes first (matrix-product rounding could otherwise displace it).
    dist = torch.where(nodes.view(-1, 1) == nodes.view(1, -1), torch.full_like(dist, -1.0), dist)
    if batch is not None:
        same = batch.view(-1, 1) == batch.view(1, -1)
        dist = torch.where(same, dist, torch.full_like(dist, float("inf")))
    # k padding columns at +inf keep TopK valid when the batch has fewer than k nodes.
    dist = torch.cat([dist, dist.new_full((num_nodes, k), float("inf"))], dim=1)
    values, index = dist.topk(k, dim=1, largest=False)
    valid = torch.isfinite(values)
    index = torch.where(valid, index, nodes.view(-1, 1).expand_as(index))
    return NeighborTable(index, valid)
