"""Global (per-graph) readouts from the batch vector, exportable with a dynamic graph count.

As torch_geometric's: ``x`` is ``[N, F]``, ``[N]`` or ``[*, N, F]`` (nodes in dim -2, or -1
for 1-D), ``batch=None`` pools all nodes into one graph, and ``size`` fixes the number of
graphs (graphs without nodes give 0 rows). With ``size=None`` the number of graphs is
``batch.max() + 1``; while exporting, the reduction goes into an N-row buffer that is then
sliced to ``batch.max() + 1`` rows, so the ONNX graph never turns a tensor value into a
Python int (the exported model therefore needs ``batch.max() < N``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from e2e_gnn.nn.scatter import scatter


def _pool(x: Tensor, batch: Tensor | None, size: int | Tensor | None, reduce: str) -> Tensor:
    if x.dim() < 1:
        msg = f"{reduce} pool: `x` must be [N, F], [N] or [*, N, F], got a 0-d tensor"
        raise ValueError(msg)
    dim = -1 if x.dim() == 1 else -2
    if batch is None:
        keep = x.dim() <= 2
        if reduce == "sum":
            return x.sum(dim=dim, keepdim=keep)
        if reduce == "mean":
            return x.mean(dim=dim, keepdim=keep)
        return x.amax(dim=dim, keepdim=keep)
    if batch.dim() != 1 or batch.size(0) != x.size(dim):
        msg = (
            f"{reduce} pool: `batch` must be [N] with N = x.size({dim}) = {x.size(dim)}, got "
            f"shape {tuple(batch.shape)!r}"
        )
        raise ValueError(msg)
    if size is not None or not torch.compiler.is_exporting():
        return scatter(x, batch, dim, size, reduce=reduce)  # type: ignore[arg-type]
    if x.size(dim) == 0:
        return x.new_zeros((*x.shape[:dim], 0, *x.shape[dim:][1:]))
    out = scatter(x, batch, dim, x.size(dim), reduce=reduce)  # type: ignore[arg-type]
    return out.movedim(dim, 0)[: batch.max() + 1].movedim(0, dim)


def global_add_pool(x: Tensor, batch: Tensor | None, size: int | Tensor | None = None) -> Tensor:
    """Sum of the node features of each graph: ``out[g] = sum_{i: batch[i] = g} x[i]``.

    Args:
        x (Tensor): node features ``[N, F]``.
        batch (Tensor, optional): int64 graph of each node ``[N]``; ``None``: one graph.
        size (int or 0-d Tensor, optional): number of graphs G; ``batch.max() + 1`` when
            ``None``. (default: ``None``)

    Shapes:
        - **output:** ``[G, F]``
    """
    return _pool(x, batch, size, "sum")


def global_mean_pool(x: Tensor, batch: Tensor | None, size: int | Tensor | None = None) -> Tensor:
    """Mean of the node features of each graph (0 for a graph without nodes).

    Args:
        x (Tensor): node features ``[N, F]``.
        batch (Tensor, optional): int64 graph of each node ``[N]``; ``None``: one graph.
        size (int or 0-d Tensor, optional): number of graphs G; ``batch.max() + 1`` when
            ``None``. (default: ``None``)

    Shapes:
        - **output:** ``[G, F]``
    """
    return _pool(x, batch, size, "mean")


def global_max_pool(x: Tensor, batch: Tensor | None, size: int | Tensor | None = None) -> Tensor:
    """Feature-wise maximum over the nodes of each graph (0 for a graph without nodes).

    Args:
        x (Tensor): node features ``[N, F]``.
        batch (Tensor, optional): int64 graph of each node ``[N]``; ``None``: one graph.
        size (int or 0-d Tensor, optional): number of graphs G; ``batch.max() + 1`` when
            ``None``. (default: ``None``)

    Shapes:
        - **output:** ``[G, F]``
    """
    return _pool(x, batch, size, "max")


def global_mean_max_add_pool(
    x: Tensor, batch: Tensor | None, size: int | Tensor | None = None
) -> Tensor:
    """The ATLAS displaced-photon GNN readout: ``[mean || max || add]`` per graph.

    Args:
        x (Tensor): node features ``[N, F]``.
        batch (Tensor, optional): int64 graph of each node ``[N]``; ``None``: one graph.
        size (int or 0-d Tensor, optional): number of graphs G; ``batch.max() + 1`` when
            ``None``. (default: ``None``)

    Shapes:
        - **output:** ``[G, 3 F]``
    """
    return torch.cat(
        [
            global_mean_pool(x, batch, size),
            global_max_pool(x, batch, size),
            global_add_pool(x, batch, size),
        ],
        dim=-1,
    )
