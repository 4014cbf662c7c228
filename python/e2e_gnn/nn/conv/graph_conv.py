from __future__ import annotations

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_edge_index, check_edge_vector, check_x
from e2e_gnn.nn.scatter import gather, scatter

AGGREGATIONS = ("add", "sum", "mean", "max")


class GraphConv(torch.nn.Module):
    r"""The graph neural network operator from the `"Weisfeiler and Leman Go Neural:
    Higher-order Graph Neural Networks" <https://arxiv.org/abs/1810.02244>`_ paper, as
    ``torch_geometric.nn.GraphConv``.

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2
        \bigoplus_{j \in \mathcal{N}(i)} e_{j,i} \cdot \mathbf{x}_j

    Parameters are named as in torch_geometric (``lin_rel``, ``lin_root``).

    Args:
        in_channels (int): input features per node.
        out_channels (int): output features per node.
        aggr (str, optional): ``"add"`` (alias ``"sum"``), ``"mean"`` or ``"max"``.
            (default: ``"add"``)
        bias (bool, optional): learn an additive bias (in ``lin_rel``). (default: ``True``)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, edge indices
          :math:`(2, |\mathcal{E}|)`, edge weights :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(
        self, in_channels: int, out_channels: int, aggr: str = "add", bias: bool = True
    ) -> None:
        super().__init__()
        if aggr not in AGGREGATIONS:
            msg = f"GraphConv: `aggr` must be one of {AGGREGATIONS}, got {aggr!r}"
            raise ValueError(msg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.aggr = aggr
        self.lin_rel = torch.nn.Linear(in_channels, out_channels, bias=bias)
        self.lin_root = torch.nn.Linear(in_channels, out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin_rel.reset_parameters()
        self.lin_root.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        check_x("GraphConv", x, self.in_channels)
        check_edge_index("GraphConv", edge_index)
        if edge_weight is not None:
            check_edge_vector("GraphConv", "edge_weight", edge_weight, edge_index)
        messages = self.message(gather(x, edge_index[0]), edge_weight)
        out = scatter(messages, edge_index[1], x.size(0), reduce=self.aggr)  # type: ignore[arg-type]
        # lin_rel(out) + lin_root(x) as one matrix product over [out || x] (one Gemm in ONNX).
        weight = torch.cat([self.lin_rel.weight, self.lin_root.weight], dim=1)
        return torch.nn.functional.linear(torch.cat([out, x], -1), weight, self.lin_rel.bias)

    def message(self, x_j: Tensor, edge_weight: Tensor | None) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
