from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_edge_vector, check_features
from e2e_gnn.nn.conv._linear import linear, linear_sum, narrows, pair
from e2e_gnn.nn.message_passing import MessagePassing


class GraphConv(MessagePassing):
    r"""The graph neural network operator from the `"Weisfeiler and Leman Go Neural:
    Higher-order Graph Neural Networks" <https://arxiv.org/abs/1810.02244>`_ paper, as
    ``torch_geometric.nn.GraphConv``.

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2
        \bigoplus_{j \in \mathcal{N}(i)} e_{j,i} \cdot \mathbf{x}_j

    Parameters are named as in torch_geometric (``lin_rel``, ``lin_root``).

    With ``"add"`` or ``"mean"`` aggregation and ``out_channels`` smaller than the source
    width, :math:`\mathbf{W}_2` is applied to the source features before the aggregation
    (exact: it commutes with a weighted sum or mean, and nodes without neighbours aggregate
    to 0 either way), so the per-edge gather and reduction run on the narrower rows.

    Args:
        in_channels (int or tuple): input features per node, ``(source, target)`` widths
            for a bipartite graph, or -1 (lazy: sized by the first forward pass).
        out_channels (int): output features per node.
        aggr (str, optional): an aggregation of :class:`e2e_gnn.nn.MessagePassing`.
            (default: ``"add"``)
        bias (bool, optional): learn an additive bias (in ``lin_rel``). (default: ``True``)
        **kwargs: ``flow``, ``node_dim``, ... of :class:`e2e_gnn.nn.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or a pair
          :math:`((|\mathcal{V}_s|, F_s), (|\mathcal{V}_t|, F_t))`, edge indices
          :math:`(2, |\mathcal{E}|)` or a ``torch.sparse`` ``adj_t``, edge weights
          :math:`(|\mathcal{E}|)` *(optional)*, ``size`` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}_t|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int | tuple[int, int],
        out_channels: int,
        aggr: Any = "add",
        bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(aggr=aggr, **kwargs)
        if isinstance(self.aggr, list):
            msg = f"GraphConv: `aggr` must be one aggregation, got {self.aggr!r}"
            raise ValueError(msg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        widths = pair(in_channels)
        self.lin_rel = linear(widths[0], out_channels, bias=bias)
        self.lin_root = linear(widths[1], out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin_rel.reset_parameters()  # type: ignore[operator]
        self.lin_root.reset_parameters()  # type: ignore[operator]

    def forward(
        self,
        x: Tensor | tuple[Tensor, Tensor | None],
        edge_index: Tensor,
        edge_weight: Tensor | None = None,
        size: tuple[int, int] | None = None,
    ) -> Tensor:
        if isinstance(x, Tensor):
            x = (x, x)
        widths = pair(self.in_channels)
        check_features("GraphConv", x[0], widths[0])
        x_root = x[1]  # None in PyG's (x_src, None): no root term
        if x_root is not None:
            check_features("GraphConv", x_root, widths[1])
        if edge_weight is not None and edge_index.layout == torch.strided:
            check_edge_vector("GraphConv", "edge_weight", edge_weight, edge_index)
        if self._reductions in (["sum"], ["mean"]) and narrows(self.lin_rel):
            # W (sum or mean of e x_j) = sum or mean of e W x_j (0 for nodes without edges
            # either way): aggregate the narrower out_channels-wide rows.
            source = torch.nn.functional.linear(x[0], self.lin_rel.weight)
            out = self.propagate(edge_index, x=(source, x[1]), edge_weight=edge_weight, size=size)
            if self.lin_rel.bias is not None:
                out = out + self.lin_rel.bias
            return out if x_root is None else out + self.lin_root(x_root)
        out = self.propagate(edge_index, x=x, edge_weight=edge_weight, size=size)
        if x_root is None:
            return self.lin_rel(out)
        return linear_sum(self.lin_rel, out, self.lin_root, x_root)

    def message(self, x_j: Tensor, edge_weight: Tensor | None) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j
