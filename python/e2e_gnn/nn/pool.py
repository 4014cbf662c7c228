"""Global (per-graph) readouts from the batch vector, exportable with a dynamic graph count.

With ``size=None`` the number of graphs is ``batch.max() + 1`` computed as a tensor: the
reduction goes into an N-row buffer that is then sliced to ``batch.max() + 1`` rows, so the
exported ONNX graph never turns a tensor value into a Python int.
"""

from __future__ import annotations

import torch
from torch import Tensor

from e2e_gnn.nn.scatter import scatter


def _pool(x: Tensor, batch: Tensor, size: int | Tensor | None, reduce: str) -> Tensor:
    if x.dim() != 2:
        msg = f"{reduce} pool: `x` must be [N, F], got shape {tuple(x.shape)!r}"
        raise ValueError(msg)
    if batch.dim() != 1 or batch.size(0) != x.size(0):
        msg = (
            f"{reduce} pool: `batch` must be [N] with N = x.size(0) = {x.size(0)}, got shape "
            f"{tuple(batch.shape)!r}"
        )
        raise ValueError(msg)
    if size is not None:
        return scatter(x, batch, size, reduce=reduce)  # type: ignore[arg-type]
    if x.size(0) == 0:
        return x.new_zeros((0, x.size(1)))
    out = scatter(x, batch, x.size(0), reduce=reduce)  # type: ignore[arg-type]
    return out[: batch.max() + 1]


def global_add_pool(x: Tensor, batch: Tensor, size: int | Tensor | None = None) -> Tensor:
    """Sum of the node features of each graph: ``out[g] = sum_{i: batch[i] = g} x[i]``.

    Args:
        x (Tensor): node features ``[N, F]``.
        batch (Tensor): int64 graph of each node ``[N]``.
        size (int or 0-d Tensor, optional): number of graphs G; ``batch.max() + 1`` when
            ``None``. (default: ``None``)

    Shapes:
        - **output:** ``[G, F]``
    """
    return _pool(x, batch, size, "sum")


def global_mean_pool(x: Tensor, batch: Tensor, size: int | Tensor | None = None) -> Tensor:
    """Mean of the node features of each graph (0 for a graph without nodes).

    Args:
        x (Tensor): node features ``[N, F]``.
        batch (Tensor): int64 graph of each node ``[N]``.
        size (int or 0-d Tensor, optional): number of graphs G; ``batch.max() + 1`` when
            ``None``. (default: ``None``)

    Shapes:
        - **output:** ``[G, F]``
    """
    return _pool(x, batch, size, "mean")


def global_max_pool(x: Tensor, batch: Tensor, size: int | Tensor | None = None) -> Tensor:
    """Feature-wise maximum over the nodes of each graph (0 for a graph without nodes).

    Args:
        x (Tensor): node features ``[N, F]``.
        batch (Tensor): int64 graph of each node ``[N]``.
        size (int or 0-d Tensor, optional): number of graphs G; ``batch.max() + 1`` when
            ``None``. (default: ``None``)

    Shapes:
        - **output:** ``[G, F]``
    """
    return _pool(x, batch, size, "max")


def global_mean_max_add_pool(x: Tensor, batch: Tensor, size: int | Tensor | None = None) -> Tensor:
    """The ATLAS displaced-photon GNN readout: ``[mean || max || add]`` per graph.

    Args:
        x (Tensor): node features ``[N, F]``.
        batch (Tensor): int64 graph of each node ``[N]``.
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
