from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_2d
from e2e_gnn.nn._fused_ops import edge_score, exporting_fused
from e2e_gnn.nn.conv._linear import linear, pair
from e2e_gnn.nn.conv.gat_conv import mean_over_heads
from e2e_gnn.nn.message_passing import MessagePassing
from e2e_gnn.nn.scatter import softmax


class TransformerConv(MessagePassing):
    r"""The graph transformer operator from the `"Masked Label Prediction: Unified Message
    Passing Model for Semi-Supervised Classification" <https://arxiv.org/abs/2009.03509>`_
    paper, as ``torch_geometric.nn.TransformerConv``.

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{W}_1 \mathbf{x}_i + \sum_{j \in \mathcal{N}(i)}
        \alpha_{i,j} \left( \mathbf{W}_2 \mathbf{x}_j + \mathbf{W}_6 \mathbf{e}_{ij}
        \right), \qquad \alpha_{i,j} = \textrm{softmax} \left(
        \frac{(\mathbf{W}_3\mathbf{x}_i)^{\top} (\mathbf{W}_4\mathbf{x}_j +
        \mathbf{W}_6 \mathbf{e}_{ij})} {\sqrt{d}} \right)

    per head; the softmax runs over the incoming edges of i (:func:`e2e_gnn.nn.softmax`).
    Parameters are named as in torch_geometric (``lin_key``, ``lin_query``, ``lin_value``,
    ``lin_edge``, ``lin_skip``, ``lin_beta``).

    Args:
        in_channels (int or tuple): input features per node, ``(source, target)`` widths
            for a bipartite graph, or -1 (lazy).
        out_channels (int): output features per node and head.
        heads (int, optional): number of attention heads. (default: ``1``)
        concat (bool, optional): concatenate the heads (else average them).
            (default: ``True``)
        beta (bool, optional): gated residual (``lin_beta``). (default: ``False``)
        dropout (float, optional): dropout on the attention weights during training.
            (default: ``0.``)
        edge_dim (int, optional): edge feature width. (default: ``None``)
        bias (bool, optional): learn additive biases. (default: ``True``)
        root_weight (bool, optional): add the skip connection ``lin_skip(x_i)``.
            (default: ``True``)
        **kwargs: ``flow``, ... of :class:`e2e_gnn.nn.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or a pair, edge indices
          :math:`(2, |\mathcal{E}|)`, edge features :math:`(|\mathcal{E}|, D)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}_t|, H * F_{out})` or
          :math:`(|\mathcal{V}_t|, F_{out})` if ``concat=False``; with
          ``return_attention_weights=True`` also ``(edge_index, alpha [E, H])``
    """

    def __init__(
        self,
        in_channels: int | tuple[int, int],
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        beta: bool = False,
        dropout: float = 0.0,
        edge_dim: int | None = None,
        bias: bool = True,
        root_weight: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("aggr", "add")
        super().__init__(node_dim=0, **kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.beta = beta and root_weight
        self.root_weight = root_weight
        self.concat = concat
        self.dropout = dropout
        self.edge_dim = edge_dim
        widths = pair(in_channels)
        self.lin_key = linear(widths[0], heads * out_channels, bias=bias)
        self.lin_query = linear(widths[1], heads * out_channels, bias=bias)
        self.lin_value = linear(widths[0], heads * out_channels, bias=bias)
        self.lin_edge = (
            torch.nn.Linear(edge_dim, heads * out_channels, bias=False)
            if edge_dim is not None
            else None
        )
        total = heads * out_channels if concat else out_channels
        self.lin_skip = linear(widths[1], total, bias=bias)
        # torch_geometric keeps the last attention here between calls and clears it; code
        # that checks it finds None, as after any PyG forward
        self._alpha: Tensor | None = None
        self.lin_beta = torch.nn.Linear(3 * total, 1, bias=False) if self.beta else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.lin_key, self.lin_query, self.lin_value, self.lin_edge):
            if lin is not None:
                lin.reset_parameters()  # type: ignore[operator]
        self.lin_skip.reset_parameters()  # type: ignore[operator]
        if self.lin_beta is not None:
            self.lin_beta.reset_parameters()

    def forward(
        self,
        x: Tensor | tuple[Tensor, Tensor],
        edge_index: Tensor,
        edge_attr: Tensor | None = None,
        return_attention_weights: bool | None = None,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        heads, channels = self.heads, self.out_channels
        if isinstance(x, Tensor):
            x = (x, x)
        check_2d("TransformerConv", "x", *x)
        query = self.lin_query(x[1]).view(-1, heads, channels)
        key = self.lin_key(x[0]).view(-1, heads, channels)
        value = self.lin_value(x[0]).view(-1, heads, channels)
        if exporting_fused() and self.lin_edge is None and self._plain_edge_update(TransformerConv):
            # edge_update's scores as one ai.e2e_gnn.EdgeScore node: no [E, H, C] products
            source, target = self._source_target(edge_index)
            alpha = edge_score(
                query,
                key,
                target=target,
                source=source,
                weight=None,
                score="dot",
                negative_slope=0.0,
            )
            alpha = softmax(alpha / math.sqrt(channels), target, num_nodes=x[1].size(0))
            value = value.index_select(0, source)
        else:
            value, alpha = self.edge_updater(
                edge_index, query=query, key=key, value=value, edge_attr=edge_attr
            )
        size = (x[0].size(0), x[1].size(0))
        out = self.propagate(edge_index, value=value, alpha=alpha, size=size)
        out = out.reshape(-1, heads * channels) if self.concat else mean_over_heads(out)
        if self.root_weight:
            x_r = self.lin_skip(x[1])
            if self.lin_beta is not None:
                beta = self.lin_beta(torch.cat([out, x_r, out - x_r], dim=-1)).sigmoid()
                out = beta * x_r + (1 - beta) * out
            else:
                out = out + x_r
        if return_attention_weights:
            return out, (edge_index, alpha)
        return out

    def edge_update(  # type: ignore[override]
        self,
        query_i: Tensor,
        key_j: Tensor,
        value_j: Tensor,
        edge_attr: Tensor | None,
        index: Tensor,
        size_i: int | None,
    ) -> tuple[Tensor, Tensor]:
        """The attention of every edge and its value ``[E, H, C]`` (edge features added)."""
        if self.lin_edge is not None:
            if edge_attr is None:
                msg = "TransformerConv: the layer was built with edge_dim; pass edge_attr"
                raise ValueError(msg)
            edge = self.lin_edge(edge_attr).view(-1, self.heads, self.out_channels)
            key_j = key_j + edge
            value_j = value_j + edge
        alpha = (query_i * key_j).sum(dim=-1) / math.sqrt(self.out_channels)
        alpha = softmax(alpha, index, num_nodes=size_i)
        return value_j, alpha

    def message(self, value: Tensor, alpha: Tensor) -> Tensor:  # type: ignore[override]
        alpha = torch.nn.functional.dropout(alpha, p=self.dropout, training=self.training)
        return value * alpha.view(-1, self.heads, 1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"heads={self.heads})"
        )
