from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_2d
from e2e_gnn.nn._fused_ops import edge_score, exporting_fused
from e2e_gnn.nn.conv._linear import linear, pair
from e2e_gnn.nn.conv.arma_conv import _glorot
from e2e_gnn.nn.conv.gat_conv import (
    FILL_VALUES,
    attention_weights,
    mean_over_heads,
    self_loop_attr,
    without_existing_loops,
)
from e2e_gnn.nn.message_passing import MessagePassing, dense_edges
from e2e_gnn.nn.scatter import softmax


class GATv2Conv(MessagePassing):
    r"""The GATv2 operator from the `"How Attentive are Graph Attention Networks?"
    <https://arxiv.org/abs/2105.14491>`_ paper, as ``torch_geometric.nn.GATv2Conv``.

    .. math::
        \mathbf{x}^{\prime}_i = \sum_{j \in \mathcal{N}(i) \cup \{ i \}}
        \alpha_{i,j}\mathbf{\Theta}_{s}\mathbf{x}_{j}, \qquad
        \alpha_{i,j} = \mathrm{softmax}_j \left( \mathbf{a}^{\top} \mathrm{LeakyReLU}\left(
        \mathbf{\Theta}_{s} \mathbf{x}_j + \mathbf{\Theta}_{t} \mathbf{x}_{i}
        + \mathbf{\Theta}_{e} \mathbf{e}_{j,i} \right) \right)

    per head. Parameters are named as in torch_geometric (``lin_l``, ``lin_r``, ``att``,
    ``lin_edge``, ``res``, ``bias``).

    With ``add_self_loops``, PyG removes existing self loops and adds one per node; here the
    existing self loops stay in place with attention exactly 0 and N loop edges are
    appended, so the edge count is not data dependent and the layer exports.

    Args:
        in_channels (int or tuple): input features per node, ``(source, target)`` widths
            for a bipartite graph, or -1 (lazy).
        out_channels (int): output features per node and head.
        heads (int, optional): number of attention heads. (default: ``1``)
        concat (bool, optional): concatenate the heads (else average them).
            (default: ``True``)
        negative_slope (float, optional): LeakyReLU slope. (default: ``0.2``)
        dropout (float, optional): dropout on the attention weights during training.
            (default: ``0.0``)
        add_self_loops (bool, optional): add a self loop to every node. (default: ``True``)
        edge_dim (int, optional): edge feature width. (default: ``None``)
        fill_value (float, Tensor or str, optional): edge features of the added self loops.
            (default: ``"mean"``)
        bias (bool, optional): learn additive biases. (default: ``True``)
        share_weights (bool, optional): the same matrix for source and target.
            (default: ``False``)
        residual (bool, optional): add a linear projection of the input. (default: ``False``)
        **kwargs: ``flow``, ... of :class:`e2e_gnn.nn.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or a pair, edge indices
          :math:`(2, |\mathcal{E}|)`, edge features :math:`(|\mathcal{E}|, D)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}_t|, H * F_{out})` or
          :math:`(|\mathcal{V}_t|, F_{out})` if ``concat=False``; with
          ``return_attention_weights=True`` also ``(edge_index, alpha [E', H])``
    """

    def __init__(
        self,
        in_channels: int | tuple[int, int],
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        edge_dim: int | None = None,
        fill_value: float | Tensor | str = "mean",
        bias: bool = True,
        share_weights: bool = False,
        residual: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("aggr", "add")
        super().__init__(node_dim=0, **kwargs)
        if isinstance(fill_value, str) and fill_value not in FILL_VALUES:
            msg = (
                f"GATv2Conv: `fill_value` must be a number, a tensor or one of "
                f"{FILL_VALUES}, got {fill_value!r}"
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
        self.share_weights = share_weights
        widths = pair(in_channels)
        self.lin_l = linear(widths[0], heads * out_channels, bias=bias)
        self.lin_r = (
            self.lin_l if share_weights else linear(widths[1], heads * out_channels, bias=bias)
        )
        self.att = torch.nn.Parameter(torch.empty(1, heads, out_channels))
        self.lin_edge = (
            torch.nn.Linear(edge_dim, heads * out_channels, bias=False)
            if edge_dim is not None
            else None
        )
        total = out_channels * (heads if concat else 1)
        if residual:
            self.res = linear(widths[1], total, bias=False)
        else:
            self.register_parameter("res", None)
        if bias:
            self.bias = torch.nn.Parameter(torch.empty(total))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.lin_l, self.lin_r, self.lin_edge, self.res):
            if lin is not None and not torch.nn.parameter.is_lazy(lin.weight):  # type: ignore[arg-type]
                torch.nn.init.xavier_uniform_(lin.weight)  # type: ignore[arg-type]
                if getattr(lin, "bias", None) is not None:
                    torch.nn.init.zeros_(lin.bias)  # type: ignore[arg-type]
        _glorot(self.att)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(
        self,
        x: Tensor | tuple[Tensor, Tensor],
        edge_index: Tensor,
        edge_attr: Tensor | None = None,
        return_attention_weights: bool | None = None,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        heads, channels = self.heads, self.out_channels
        adj_t = edge_index if edge_index.layout != torch.strided else None
        edge_index = dense_edges("GATv2Conv", edge_index)[0]
        x_src, x_dst = (x, x) if isinstance(x, Tensor) else x
        check_2d("GATv2Conv", "x", x_src, x_dst)
        res = self.res(x_dst) if self.res is not None else None
        x_l = self.lin_l(x_src).view(-1, heads, channels)
        if self.share_weights and x_dst is x_src:
            x_r = x_l
        else:
            x_r = self.lin_r(x_dst).view(-1, heads, channels)
        if edge_attr is not None and edge_attr.dim() == 1:
            edge_attr = edge_attr.view(-1, 1)
        existing_loop = None
        if self.add_self_loops:
            num_nodes = torch.sym_min(x_l.size(0), x_r.size(0))
            source, target = edge_index[0], edge_index[1]
            is_loop = source == target
            loops = torch.arange(num_nodes, device=edge_index.device)
            if edge_attr is not None:
                loop_attr = self_loop_attr(edge_attr, is_loop, target, num_nodes, self.fill_value)
                edge_attr = torch.cat([edge_attr, loop_attr])
            edge_index = torch.cat([edge_index, loops.repeat(2, 1)], dim=1)
            existing_loop = torch.cat([is_loop, torch.zeros_like(loops, dtype=torch.bool)])
        if exporting_fused() and edge_attr is None and self._plain_edge_update(GATv2Conv):
            # edge_update's scores as one ai.e2e_gnn.EdgeScore node: no [E, H, C] tensors
            source, target = self._source_target(edge_index)
            att = self.att.view(heads, channels)
            alpha = edge_score(x_r, x_l, source, target, att, "leaky_relu", self.negative_slope)
            alpha = self._normalize(alpha, existing_loop, target, x_r.size(0))
        else:
            alpha = self.edge_updater(
                edge_index, x=(x_l, x_r), edge_attr=edge_attr, existing_loop=existing_loop
            )
        out = self.propagate(edge_index, x=(x_l, x_r), alpha=alpha)
        out = out.reshape(-1, heads * channels) if self.concat else mean_over_heads(out)
        if res is not None:
            out = out + res
        if self.bias is not None:
            out = out + self.bias
        if return_attention_weights:
            return out, attention_weights(edge_index, alpha, existing_loop, adj_t)
        return out

    def edge_update(  # type: ignore[override]
        self,
        x_j: Tensor,
        x_i: Tensor,
        edge_attr: Tensor | None,
        index: Tensor,
        size_i: int | None,
        existing_loop: Tensor | None = None,
    ) -> Tensor:
        x = x_i + x_j
        if edge_attr is not None:
            if self.lin_edge is None:
                msg = "GATv2Conv: edge_attr given but the layer was built without edge_dim"
                raise ValueError(msg)
            x = x + self.lin_edge(edge_attr).view(-1, self.heads, self.out_channels)
        x = torch.nn.functional.leaky_relu(x, self.negative_slope)
        alpha = (x * self.att).sum(dim=-1)
        return self._normalize(alpha, existing_loop, index, size_i)

    def _normalize(
        self,
        alpha: Tensor,
        existing_loop: Tensor | None,
        index: Tensor,
        size_i: int | torch.SymInt | None,
    ) -> Tensor:
        """The attention weights [E, H] from the scores: the self loops the input had get 0,
        softmax over each target's edges, dropout."""
        if existing_loop is not None:
            alpha = without_existing_loops(alpha, existing_loop)
        alpha = softmax(alpha, index, num_nodes=size_i)
        return torch.nn.functional.dropout(alpha, p=self.dropout, training=self.training)

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:  # type: ignore[override]
        return x_j * alpha.unsqueeze(-1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"heads={self.heads})"
        )
