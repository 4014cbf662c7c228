from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_2d, check_edge_index, check_edge_vector
from e2e_gnn.nn.conv._linear import linear, pair
from e2e_gnn.nn.conv.arma_conv import _glorot
from e2e_gnn.nn.message_passing import MessagePassing, dense_edges
from e2e_gnn.nn.scatter import scatter, softmax

FILL_VALUES = ("mean", "add", "sum", "max", "min")


class GATConv(MessagePassing):
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

    per head; the softmax runs over the incoming edges of i (:func:`e2e_gnn.nn.softmax`).
    Parameters are named as in torch_geometric (``lin``, ``att_src``, ``att_dst``,
    ``lin_edge``, ``att_edge``, ``res``, ``bias``).

    With ``add_self_loops``, PyG removes existing self loops and adds one per node; here the
    existing self loops stay in place with attention exactly 0 (their score is set to -inf
    before the softmax) and N loop edges are appended, so the edge count is not data
    dependent and the layer exports.

    Args:
        in_channels (int or tuple): input features per node, ``(source, target)`` widths
            for a bipartite graph (separate ``lin_src``/``lin_dst``), or -1 (lazy).
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
            a value, or ``"mean"``/``"add"``/``"max"``/``"min"`` of the node's incoming edge
            features.
            (default: ``"mean"``)
        bias (bool, optional): learn an additive bias. (default: ``True``)
        residual (bool, optional): add a linear projection of the input. (default: ``False``)
        **kwargs: ``flow``, ... of :class:`e2e_gnn.nn.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, edge indices
          :math:`(2, |\mathcal{E}|)`, edge features :math:`(|\mathcal{E}|, D)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, H * F_{out})` or
          :math:`(|\mathcal{V}|, F_{out})` if ``concat=False``; with
          ``return_attention_weights=True`` also ``(edge_index, alpha [E', H])`` (PyG's
          edge list: the existing self loops removed, eager only)
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
        residual: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("aggr", "add")
        super().__init__(node_dim=0, **kwargs)
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
        self.lin: torch.nn.Module | None = None
        self.lin_src: torch.nn.Module | None = None
        self.lin_dst: torch.nn.Module | None = None
        if isinstance(in_channels, int):
            self.lin = linear(in_channels, heads * out_channels, bias=False)
        else:
            self.lin_src = linear(in_channels[0], heads * out_channels, bias=False)
            self.lin_dst = linear(in_channels[1], heads * out_channels, bias=False)
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
            self.res = linear(pair(in_channels)[1], total, bias=False)
        else:
            self.register_parameter("res", None)
        if bias:
            self.bias = torch.nn.Parameter(torch.empty(total))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.lin, self.lin_src, self.lin_dst, self.lin_edge, self.res):
            if lin is not None and not torch.nn.parameter.is_lazy(lin.weight):  # type: ignore[arg-type]
                torch.nn.init.xavier_uniform_(lin.weight)  # type: ignore[arg-type]
        for att in (self.att_src, self.att_dst, self.att_edge):
            if att is not None:
                _glorot(att)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(
        self,
        x: Tensor | tuple[Tensor, Tensor | None],
        edge_index: Tensor,
        edge_attr: Tensor | None = None,
        size: tuple[int, int] | None = None,
        return_attention_weights: bool | None = None,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        x_in, x_out = (x, x) if isinstance(x, Tensor) else x
        check_2d("GATConv", "x", x_in, x_out)
        adj_t = edge_index if edge_index.layout != torch.strided else None
        if adj_t is not None and size is None:
            size = (adj_t.size(1), adj_t.size(0))
        edge_index = dense_edges("GATConv", edge_index)[0]
        check_edge_index("GATConv", edge_index)
        if edge_attr is not None:
            check_edge_vector("GATConv", "edge_attr", edge_attr, edge_index)
            if edge_attr.dim() == 1:
                edge_attr = edge_attr.view(-1, 1)
        heads, channels = self.heads, self.out_channels
        res = self.res(x_out) if self.res is not None and x_out is not None else None
        if self.lin is not None:
            x_src = self.lin(x_in).view(-1, heads, channels)
            x_dst = x_src if x_out is x_in else self.lin(x_out).view(-1, heads, channels)
        else:
            assert self.lin_src is not None and self.lin_dst is not None
            x_src = self.lin_src(x_in).view(-1, heads, channels)
            x_dst = None if x_out is None else self.lin_dst(x_out).view(-1, heads, channels)
        # PyG's (x_src, None): the attention reads the source nodes only
        alpha_src = (x_src * self.att_src).sum(dim=-1)  # [N_src, H]
        alpha_dst = None if x_dst is None else (x_dst * self.att_dst).sum(dim=-1)  # [N_dst, H]
        existing_loop = None
        if self.add_self_loops:
            num_nodes = (
                x_src.size(0) if x_dst is None else torch.sym_min(x_src.size(0), x_dst.size(0))
            )
            if size is not None:
                num_nodes = min(size)
            source, target = edge_index[0], edge_index[1]
            is_loop = source == target
            loops = torch.arange(num_nodes, device=edge_index.device)
            if edge_attr is not None and self.lin_edge is not None:
                loop_attr = self_loop_attr(edge_attr, is_loop, target, num_nodes, self.fill_value)
                edge_attr = torch.cat([edge_attr, loop_attr])
            edge_index = torch.cat([edge_index, loops.repeat(2, 1)], dim=1)
            existing_loop = torch.cat([is_loop, torch.zeros_like(loops, dtype=torch.bool)])
        alpha = self.edge_updater(
            edge_index,
            alpha=(alpha_src, alpha_dst),
            edge_attr=edge_attr,
            existing_loop=existing_loop,
            size=size,
        )
        out = self.propagate(edge_index, x=(x_src, x_dst), alpha=alpha, size=size)
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
        alpha_j: Tensor,
        alpha_i: Tensor | None,
        edge_attr: Tensor | None,
        index: Tensor,
        size_i: int | None,
        existing_loop: Tensor | None = None,
    ) -> Tensor:
        alpha = alpha_j if alpha_i is None else alpha_j + alpha_i
        if edge_attr is not None and self.lin_edge is not None:
            assert self.att_edge is not None
            projected = self.lin_edge(edge_attr).view(-1, self.heads, self.out_channels)
            alpha = alpha + (projected * self.att_edge).sum(dim=-1)
        if existing_loop is not None:
            alpha = without_existing_loops(alpha, existing_loop)
        alpha = torch.nn.functional.leaky_relu(alpha, self.negative_slope)
        alpha = softmax(alpha, index, num_nodes=size_i)
        return torch.nn.functional.dropout(alpha, p=self.dropout, training=self.training)

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * x_j

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"heads={self.heads})"
        )


def mean_over_heads(out: Tensor) -> Tensor:
    """``out.mean(dim=1)`` of ``[N, H, C]`` (``concat=False``) as a sum of the heads' slices:
    the same numbers, and 2.5x faster in ONNX Runtime than its ReduceMean over a middle axis."""
    heads = out.unbind(1)
    total = heads[0]
    for head in heads[1:]:
        total = total + head
    return total / len(heads)


def without_existing_loops(alpha: Tensor, existing_loop: Tensor) -> Tensor:
    """``alpha`` [E, H] with -inf on the self loops the input already had, so that the
    softmax gives them exactly 0: an offset of 0 or -inf per edge read from a two-row table
    (ONNX Runtime's Where broadcasting an [E, 1] condition over the heads is 6x slower)."""
    offsets = alpha.new_tensor([0.0, float("-inf")]).view(2, 1).expand(2, alpha.size(1))
    return alpha + offsets.index_select(0, existing_loop.long())


def self_loop_attr(
    edge_attr: Tensor,
    is_loop: Tensor,
    target: Tensor,
    num_nodes: int | torch.SymInt,
    fill_value: float | Tensor | str,
) -> Tensor:
    """Edge features ``[num_nodes, D]`` of the self loops added by the attention layers,
    from the node's incoming non-loop edges (``"mean"``/``"add"``/``"max"``/``"min"``; 0 for
    a node without any) or a constant, as torch_geometric's ``add_self_loops(...,
    fill_value)`` after ``remove_self_loops``."""
    if not isinstance(fill_value, str):
        fill = torch.as_tensor(fill_value, dtype=edge_attr.dtype)
        return fill.expand(num_nodes, edge_attr.size(1))  # type: ignore[arg-type]
    if fill_value in ("max", "min"):
        # Existing loops hold the finite extreme that loses the reduction; nodes whose
        # incoming edges are all loops (or none) get 0, as PyG's scatter after removing them.
        finfo = torch.finfo(edge_attr.dtype)
        loser = finfo.min if fill_value == "max" else finfo.max
        kept = torch.where(is_loop.view(-1, 1), torch.full_like(edge_attr, loser), edge_attr)
        extreme = scatter(kept, target, dim_size=num_nodes, reduce=fill_value)
        count = scatter((~is_loop).to(edge_attr.dtype), target, dim_size=num_nodes)
        return torch.where(count.view(-1, 1) > 0, extreme, torch.zeros_like(extreme))
    kept = torch.where(is_loop.view(-1, 1), torch.zeros_like(edge_attr), edge_attr)
    total = scatter(kept, target, dim_size=num_nodes)
    if fill_value in ("add", "sum"):
        return total
    ones = (~is_loop).to(edge_attr.dtype)
    count = scatter(ones, target, dim_size=num_nodes).clamp(min=1)
    return total / count.view(-1, 1)


def attention_weights(
    edge_index: Tensor, alpha: Tensor, existing_loop: Tensor | None, adj_t: Tensor | None
) -> tuple[Tensor, Tensor]:
    """``return_attention_weights`` as torch_geometric gives it: ``(edge_index, alpha)``
    without the self loops the input already had (``existing_loop``; eager only), or, for
    a sparse ``adj_t`` input, the sparse adjacency of alpha and its values."""
    if existing_loop is not None:
        keep = ~existing_loop
        edge_index, alpha = edge_index[:, keep], alpha[keep]
    if adj_t is None:
        return edge_index, alpha
    weights = torch.sparse_coo_tensor(
        edge_index.flip(0), alpha, (*adj_t.shape[:2], alpha.size(1))
    ).coalesce()
    return weights, weights.values()
