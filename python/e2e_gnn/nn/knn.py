"""k nearest neighbours computed inside the model, so that it exports to ONNX.

``batch`` is sorted, so every graph is a contiguous run of nodes. The nodes are laid out as
a padded ``[G, n_max, D]`` table (graph, position in graph), the squared distances are
computed per graph block (``[G, n_max, n_max]``, +inf on padding), and TopK runs
over the last axis: ONNX NonZero/CumSum/ScatterND/Sub/Mul/Where/TopK/GatherND, with
``G`` and ``n_max`` (at least ``k``) computed from ``batch`` at run time. Time and memory grow with
``G * n_max^2`` (the sum of the per-graph squares when graphs are of similar size) instead
of the square of the batch's node count; a single graph of ``n`` nodes still needs ``n^2``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from e2e_gnn.nn.fixed_degree import NeighborTable


def _check_sorted(batch: Tensor) -> None:
    if torch.compiler.is_compiling() or batch.numel() < 2:
        return
    decreasing = (batch[1:] < batch[:-1]).nonzero()
    if decreasing.numel():
        i = int(decreasing[0, 0]) + 1
        msg = (
            f"knn_table: `batch` must be sorted (each graph's nodes contiguous), but "
            f"batch[{i}] = {int(batch[i])} < batch[{i - 1}] = {int(batch[i - 1])}"
        )
        raise ValueError(msg)


_CHUNK_ELEMENTS = 1 << 24  # distances held at once by an eager call (64 MiB in float32)


def _block_topk(
    table: Tensor, counts: Tensor, first: int, last: int, k: int
) -> tuple[Tensor, Tensor]:
    """TopK of rows ``first:last`` of every graph's block of squared distances."""
    width = table.size(1)
    rows = table[:, first:last]
    # One coordinate at a time, in a fixed order: elementwise IEEE operations give the same
    # bits in torch and ONNX Runtime (a matrix product's rounding differs between the two and
    # can swap near-equal neighbours).
    dist = table.new_zeros(table.size(0), last - first, width)
    for d in range(table.size(2)):
        dist.add_((rows[:, :, d : d + 1] - table[:, None, :, d]).square_())
    slots = torch.arange(width, device=table.device)
    dist.masked_fill_(slots.view(1, 1, -1) >= counts.view(-1, 1, 1), float("inf"))
    # The node itself comes first, ahead of duplicates of its position.
    dist.masked_fill_(slots[first:last].view(1, -1, 1) == slots.view(1, 1, -1), -1.0)
    values, index = dist.topk(k, dim=2, largest=False)
    return values, index


def knn_table(pos: Tensor, batch: Tensor | None, k: int) -> NeighborTable:
    """For every node, its ``k`` nearest nodes of the same graph in ``pos``, itself included
    (distance 0), as ``torch_geometric.nn.knn(pos, pos, k, batch, batch)`` finds them.

    Nodes of graphs with fewer than ``k`` nodes get all the nodes of their graph and masked
    slots for the rest, so every reduction over the table stays exact.

    Args:
        pos (Tensor): float ``[N, D]`` coordinates (e.g. learned space).
        batch (Tensor, optional): int64 ``[N]`` sorted graph of each node; one graph if
            ``None``.
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
    nodes = torch.arange(num_nodes, device=pos.device)
    if batch is None:
        batch = torch.zeros_like(nodes)
    _check_sorted(batch)
    change = batch[1:] != batch[:-1]
    edge = torch.ones(1, dtype=torch.bool, device=pos.device)
    is_start = torch.cat([edge, change])[:num_nodes]
    is_end = torch.cat([change, edge])[:num_nodes]
    graph = is_start.long().cumsum(0) - 1  # 0..G-1 in node order, whatever the batch ids
    first = nodes[is_start]
    counts = nodes[is_end] + 1 - first
    start = first[graph]
    local = nodes - start
    num_graphs = first.size(0)
    # Slots per graph: the largest graph, and at least k so that TopK always has k columns
    # (the padding slots are at +inf, hence invalid).
    width = int(torch.cat([counts, counts.new_full((1,), k)]).max())

    table = pos.new_zeros(num_graphs, width, pos.size(1)).index_put((graph, local), pos)
    # Eager runs bound memory by taking the rows of the blocks in chunks; an export takes
    # them all at once (a loop over a data-dependent count does not export).
    if torch.compiler.is_compiling():
        values, index = _block_topk(table, counts, 0, width, k)
    else:
        rows = max(1, _CHUNK_ELEMENTS // (max(num_graphs, 1) * width))
        chunks = [
            _block_topk(table, counts, r, min(r + rows, width), k) for r in range(0, width, rows)
        ]
        values = torch.cat([v for v, _ in chunks], dim=1)
        index = torch.cat([i for _, i in chunks], dim=1)
    values, index = values[graph, local], index[graph, local]
    valid = torch.isfinite(values)
    index = torch.where(valid, index + start.view(-1, 1), nodes.view(-1, 1).expand_as(index))
    return NeighborTable(index, valid)
