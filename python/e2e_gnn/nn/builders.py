"""``knn_graph`` and ``radius_graph`` with torch_geometric's signatures, computed inside the
model so that they export to ONNX (no torch_cluster needed).

Both build on :func:`e2e_gnn.nn.knn.knn_table` (distances and TopK per graph block, ``batch``
sorted): exact, with a cost that grows with the per-graph squares. The edge list keeps only the
valid slots (a boolean mask, NonZero in ONNX), so its length is data dependent as in PyG.
"""

from __future__ import annotations

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_flow
from e2e_gnn.nn.knn import knn_table


def _edges(neighbors: Tensor, valid: Tensor, flow: str, owner: str) -> Tensor:
    check_flow(owner, flow)
    targets = torch.arange(neighbors.size(0), device=neighbors.device).view(-1, 1)
    source = neighbors[valid]
    target = targets.expand_as(neighbors)[valid]
    pairs = [source, target] if flow == "source_to_target" else [target, source]
    return torch.stack(pairs)


def _table(x: Tensor, batch: Tensor | None, k: int, loop: bool) -> tuple[Tensor, Tensor]:
    table = knn_table(x, batch, k if loop else k + 1)
    if loop:
        return table.neighbors, table.valid
    return table.neighbors[:, 1:], table.valid[:, 1:]  # slot 0 is the node itself


def knn_graph(
    x: Tensor,
    k: int,
    batch: Tensor | None = None,
    loop: bool = False,
    flow: str = "source_to_target",
    cosine: bool = False,
    num_workers: int = 1,
    batch_size: int | None = None,
) -> Tensor:
    """The k nearest neighbours of every node within its graph, as
    ``torch_geometric.nn.knn_graph``: ``[2, E]`` edges grouped by target in increasing
    order, nearest first; ``min(k, n - 1)`` per node of an n-node graph (``min(k, n)`` with
    ``loop``).

    Args:
        x (Tensor): node coordinates ``[N, D]``.
        k (int): neighbours per node.
        batch (Tensor, optional): int64 graph of each node ``[N]``. (default: ``None``)
        loop (bool, optional): count the node itself among its neighbours.
            (default: ``False``)
        flow (str, optional): ``"source_to_target"`` (edges neighbour -> node) or
            ``"target_to_source"``. (default: ``"source_to_target"``)
        cosine (bool, optional): cosine distance; not supported (``ValueError``).
        num_workers, batch_size: accepted for compatibility, unused.
    """
    if cosine:
        msg = "knn_graph: cosine=True is not supported; normalise x and use the L2 distance"
        raise ValueError(msg)
    neighbors, valid = _table(x, batch, k, loop)
    return _edges(neighbors, valid, flow, "knn_graph")


def radius_graph(
    x: Tensor,
    r: float,
    batch: Tensor | None = None,
    loop: bool = False,
    max_num_neighbors: int = 32,
    flow: str = "source_to_target",
    num_workers: int = 1,
    batch_size: int | None = None,
) -> Tensor:
    """The nodes within distance ``r`` of every node in its graph, as
    ``torch_geometric.nn.radius_graph``: ``[2, E]`` edges grouped by target in increasing
    order, nearest first, at most ``max_num_neighbors`` per node. When more nodes are within
    ``r``, the nearest ones are kept (torch_cluster keeps the first ones it finds).

    Args:
        x (Tensor): node coordinates ``[N, D]``.
        r (float): the radius (inclusive).
        batch (Tensor, optional): int64 graph of each node ``[N]``. (default: ``None``)
        loop (bool, optional): include the node itself. (default: ``False``)
        max_num_neighbors (int, optional): neighbours kept per node. (default: ``32``)
        flow (str, optional): ``"source_to_target"`` or ``"target_to_source"``.
            (default: ``"source_to_target"``)
        num_workers, batch_size: accepted for compatibility, unused.
    """
    neighbors, valid = _table(x, batch, max_num_neighbors, loop)
    distance = x.index_select(0, neighbors.reshape(-1)).view(*neighbors.shape, -1) - x.unsqueeze(1)
    within = distance.pow(2).sum(-1) <= r * r
    return _edges(neighbors, valid & within, flow, "radius_graph")
