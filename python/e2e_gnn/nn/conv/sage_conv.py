from __future__ import annotations

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_edge_index, check_x
from e2e_gnn.nn.scatter import gather, scatter

AGGREGATIONS = ("mean", "max", "add", "sum")


class SAGEConv(torch.nn.Module):
    r"""The GraphSAGE operator from the `"Inductive Representation Learning on Large Graphs"
    <https://arxiv.org/abs/1706.02216>`_ paper, as ``torch_geometric.nn.SAGEConv``.

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2 \cdot
        \bigoplus_{j \in \mathcal{N}(i)} \mathbf{x}_j

    Parameters are named as in torch_geometric (``lin_l``, ``lin_r``, ``lin``).

    Args:
        in_channels (int): input features per node.
        out_channels (int): output features per node.
        aggr (str, optional): ``"mean"``, ``"max"`` or ``"add"`` (alias ``"sum"``).
            (default: ``"mean"``)
        normalize (bool, optional): L2-normalise the output rows. (default: ``False``)
        root_weight (bool, optional): add the :math:`\mathbf{W}_1 \mathbf{x}_i` term.
            (default: ``True``)
        project (bool, optional): project the inputs with a Linear + ReLU first.
            (default: ``False``)
        bias (bool, optional): learn an additive bias (in ``lin_l``). (default: ``True``)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, edge indices
          :math:`(2, |\mathcal{E}|)`
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        aggr: str = "mean",
        normalize: bool = False,
        root_weight: bool = True,
        project: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if aggr not in AGGREGATIONS:
            msg = f"SAGEConv: `aggr` must be one of {AGGREGATIONS}, got {aggr!r}"
            raise ValueError(msg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.aggr = aggr
        self.normalize = normalize
        self.root_weight = root_weight
        self.project = project
        if project:
            self.lin = torch.nn.Linear(in_channels, in_channels, bias=True)
        self.lin_l = torch.nn.Linear(in_channels, out_channels, bias=bias)
        if root_weight:
            self.lin_r = torch.nn.Linear(in_channels, out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.project:
            self.lin.reset_parameters()
        self.lin_l.reset_parameters()
        if self.root_weight:
            self.lin_r.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        check_x("SAGEConv", x, self.in_channels)
        check_edge_index("SAGEConv", edge_index)
        x_root = x
        if self.project:
            x = self.lin(x).relu()
        messages = self.message(gather(x, edge_index[0]))
        out = scatter(messages, edge_index[1], x.size(0), reduce=self.aggr)  # type: ignore[arg-type]
        if self.root_weight:
            # lin_l(out) + lin_r(x) as one matrix product over [out || x] (one Gemm in ONNX).
            weight = torch.cat([self.lin_l.weight, self.lin_r.weight], dim=1)
            out = torch.nn.functional.linear(torch.cat([out, x_root], -1), weight, self.lin_l.bias)
        else:
            out = self.lin_l(out)
        if self.normalize:
            out = torch.nn.functional.normalize(out, p=2.0, dim=-1)
        return out

    def message(self, x_j: Tensor) -> Tensor:
        return x_j

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggr={self.aggr})"
        )
