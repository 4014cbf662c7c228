from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_x, reset
from e2e_gnn.nn.conv.edge_conv import AGGREGATIONS, affine_tail, apply_tail, edge_messages
from e2e_gnn.nn.knn import knn_table


class DynamicEdgeConv(torch.nn.Module):
    r"""The dynamic edge convolutional operator from the `"Dynamic Graph CNN for Learning on
    Point Clouds" <https://arxiv.org/abs/1801.07829>`_ paper, as
    ``torch_geometric.nn.DynamicEdgeConv``: :class:`EdgeConv` over the k nearest neighbours
    of every node in feature space, within its graph, itself included.

    .. math::
        \mathbf{x}^{\prime}_i = \bigoplus_{j \in \mathrm{kNN}(i)}
        h_{\mathbf{\Theta}}(\mathbf{x}_i \, \Vert \, \mathbf{x}_j - \mathbf{x}_i)

    The kNN graph is computed inside the model (distances + TopK per graph,
    :func:`e2e_gnn.nn.knn.knn_table`), so the layer exports to ONNX, which PyG's (pyg-lib
    ``knn``) does not; graphs with fewer than k nodes aggregate over all their nodes, as in
    PyG. Parameters are named as in torch_geometric (``nn.*``).

    Args:
        nn (torch.nn.Module): maps ``[-1, 2 * in_channels]`` to ``[-1, out_channels]``; a
            leading Linear is split per node as in :class:`EdgeConv`, and with ``"mean"``
            or ``"add"`` the affine modules that end it (e.g. a last Linear) are applied
            per node after the aggregation, exactly, as in :class:`EdgeConv`.
        k (int): number of nearest neighbours (self included).
        aggr (str, optional): ``"add"`` (alias ``"sum"``), ``"mean"`` or ``"max"``.
            (default: ``"max"``)
        num_workers (int, optional): accepted for PyG compatibility, unused. (default: ``1``)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, batch vector
          :math:`(|\mathcal{V}|)`, sorted *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(
        self, nn: Callable[[Tensor], Tensor], k: int, aggr: str = "max", num_workers: int = 1
    ) -> None:
        super().__init__()
        if aggr not in AGGREGATIONS:
            msg = f"DynamicEdgeConv: `aggr` must be one of {AGGREGATIONS}, got {aggr!r}"
            raise ValueError(msg)
        if k < 1:
            msg = f"DynamicEdgeConv: `k` must be a positive int, got {k!r}"
            raise ValueError(msg)
        self.nn = nn
        self.k = k
        self.aggr = aggr
        self.num_workers = num_workers
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if isinstance(self.nn, torch.nn.Module):
            reset(self.nn)

    def forward(self, x: Tensor, batch: Tensor | None = None) -> Tensor:
        check_x("DynamicEdgeConv", x)
        table = knn_table(x, batch, self.k)
        targets = torch.arange(x.size(0), device=x.device).view(-1, 1)
        tail = affine_tail(self.nn, self.aggr, x.size(1))
        messages = edge_messages(self.nn, x, targets, table.neighbors, tail=tail)
        return apply_tail(tail, table.reduce(messages, self.aggr), table.degree, self.aggr)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(nn={self.nn}, k={self.k})"
