from __future__ import annotations

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_edge_index, check_edge_vector, check_x
from e2e_gnn.nn.conv.arma_conv import _glorot
from e2e_gnn.nn.scatter import gather, scatter, scatter_softmax

FILL_VALUES = ("mean", "add", "sum")


class GATConv(torch.nn.Module):
    r"""The graph attentional operator from the `"Graph Attention Networks"
    <https://arxiv.org/abs/1710.10903>`_ paper, as ``torch_geometric.nn.GATConv``.

    .. math::
        \mathbf{x}^{\prime}_i = \alpha_{i,i}\mathbf{\Theta}\mathbf{x}_{i} +
        \sum_{j \in \mathcal{N}(i)} \alpha_{i,j}\mathbf{\Theta}\mathbf{x}_{j},
        \qquad
        \alpha_{i,j} = \mathrm{softmax}_j \left( \mathrm{LeakyReLU} \left(
        \mathbf{a}^{\top}_{s} \mathbf{\Theta}\mathbf{x}_j
        + \mathbf{a}^{\top}_{t} \mathbf{\Theta}\mathbf{x}_i
        + \mathbf{a}^{\top}_{e} \mathbf{\Theta}_{e} \mathbf{e}_{j,i} \right) \right)

    per head; the softmax runs over the incoming edges of i (``scatter_softmax``).
    Parameters are named as in torch_geometric (``lin``, ``att_src``, ``att_dst``,
    ``lin_edge``, ``att_edge``, ``res``, ``bias``).

    With ``add_self_loops``, PyG removes existing self loops and adds one per node; here the
    existing self loops stay in place with attention exactly 0 (their score is set to -inf
    before the softmax) and N loop edges are appended, so the edge count is not data
    dependent and the layer exports.

    Args:
        in_channels (int): input features per node.
        out_channels (int): output features per node and head.
        heads (int, optional): number of attention heads. (default: ``1``)
        concat (bool, optional): concatenate the heads (else average them).
            (default: ``True``)
        negative_slope (float, optional): LeakyReLU slope. (default: ``0.2``)
        dropout (float, optional): dropout on the attention weights during training.
            (default: ``0.0``)
        add_self_loops (bool, optional): add a self loop to every node. (default: ``True``)
        edge_dim (int, optional): edge feature width, if edge features are used.
            (default: ``None``)
        fill_value (float, Tensor or str, optional): edge features of the added self loops:
            a value, or ``"mean"``/``"add"`` of the node's incoming edge features.
            (default: ``"mean"``)
        bias (bool, optional): learn an additive bias. (default: ``True``)
        residual (bool, optional): add a linear projection of the input. (default: ``False``)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, edge indices
          :math:`(2, |\mathcal{E}|)`, edge features :math:`(|\mathcal{E}|, D)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, H * F_{out})` or
          :math:`(|\mathcal{V}|, F_{out})` if ``concat=False``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        edge_dim: int | None = None,
        fill_value: float | Tensor | str = "mean",
        bias: bool = True,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, int) or in_channels < 1:
            msg = (
                f"GATConv: `in_channels` must be a positive int (no bipartite or lazy "
                f"form), got {in_channels!r}"
            )
            raise ValueError(msg)
        if isinstance(fill_value, str) and fill_value not in FILL_VALUES:
            msg = (
                f"GATConv: `fill_value` must be a number, a tensor or one of {FILL_VALUES}, "
                f"got {fill_value!r}"
            )
            raise ValueError(msg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.add_self_loops = add_self_loops
        self.edge_dim = edge_dim
        self.fill_value = fill_value
        self.residual = residual
        self.lin = torch.nn.Linear(in_channels, heads * out_channels, bias=False)
        self.att_src = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        if edge_dim is not None:
            self.lin_edge = torch.nn.Linear(edge_dim, heads * out_channels, bias=False)
            self.att_edge = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        else:
            self.lin_edge = None
            self.register_parameter("att_edge", None)
        total = out_channels * (heads if concat else 1)
        if residual:
            self.res = torch.nn.Linear(in_channels, total, bias=False)
        else:
            self.register_parameter("res", None)
        if bias:
            self.bias = torch.nn.Parameter(torch.empty(total))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.lin, self.lin_edge, self.res):
            if lin is not None:
                torch.nn.init.xavier_uniform_(lin.weight)
        for att in (self.att_src, self.att_dst, self.att_edge):
            if att is not None:
                _glorot(att)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        check_x("GATConv", x, self.in_channels)
        check_edge_index("GATConv", edge_index)
        if edge_attr is not None:
            check_edge_vector("GATConv", "edge_attr", edge_attr, edge_index)
            if edge_attr.dim() == 1:
                edge_attr = edge_attr.view(-1, 1)
        heads, channels, num_nodes = self.heads, self.out_channels, x.size(0)
        res = self.res(x) if self.res is not None else None
        h = self.lin(x).view(-1, heads, channels)
        alpha_src = (h * self.att_src).sum(dim=-1)  # [N, H]
        alpha_dst = (h * self.att_dst).sum(dim=-1)
        source, target = edge_index[0], edge_index[1]
        alpha = gather(alpha_src, source) + gather(alpha_dst, target)  # [E, H]
        if edge_attr is not None and self.lin_edge is not None:
            alpha = alpha + self._edge_score(edge_attr)
        if self.add_self_loops:
            is_loop = (source == target).view(-1, 1)
            alpha = torch.where(is_loop, torch.full_like(alpha, float("-inf")), alpha)
            loops = torch.arange(num_nodes, device=x.device)
            loop_alpha = alpha_src + alpha_dst
            if edge_attr is not None and self.lin_edge is not None:
                loop_attr = self._loop_attr(edge_attr, is_loop.view(-1), target, num_nodes)
                loop_alpha = loop_alpha + self._edge_score(loop_attr)
            alpha = torch.cat([alpha, loop_alpha])
            source = torch.cat([source, loops])
            target = torch.cat([target, loops])
        alpha = torch.nn.functional.leaky_relu(alpha, self.negative_slope)
        alpha = scatter_softmax(alpha, target, num_nodes)
        alpha = torch.nn.functional.dropout(alpha, p=self.dropout, training=self.training)
        out = scatter(self.message(gather(h, source), alpha), target, num_nodes)  # [N, H, C]
        out = out.reshape(-1, heads * channels) if self.concat else out.mean(dim=1)
        if res is not None:
            out = out + res
        if self.bias is not None:
            out = out + self.bias
        return out

    def _edge_score(self, edge_attr: Tensor) -> Tensor:
        assert self.lin_edge is not None and self.att_edge is not None
        projected = self.lin_edge(edge_attr).view(-1, self.heads, self.out_channels)
        return (projected * self.att_edge).sum(dim=-1)

    def _loop_attr(
        self, edge_attr: Tensor, is_loop: Tensor, target: Tensor, num_nodes: int | torch.SymInt
    ) -> Tensor:
        """Edge features of the added self loops, from the incoming non-loop edges."""
        if not isinstance(self.fill_value, str):
            fill = torch.as_tensor(self.fill_value, dtype=edge_attr.dtype)
            return fill.expand(num_nodes, edge_attr.size(1))  # type: ignore[arg-type]
        kept = torch.where(is_loop.view(-1, 1), torch.zeros_like(edge_attr), edge_attr)
        total = scatter(kept, target, num_nodes)
        if self.fill_value in ("add", "sum"):
            return total
        ones = (~is_loop).to(edge_attr.dtype)
        count = scatter(ones, target, num_nodes).clamp(min=1)
        return total / count.view(-1, 1)

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * x_j

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"heads={self.heads})"
        )
