from __future__ import annotations

import torch
from torch import Tensor

from e2e_gnn.nn._checks import (
    check_edge_index,
    check_edge_vector,
    check_features,
    check_flow,
)
from e2e_gnn.nn.conv._linear import linear, widens
from e2e_gnn.nn.message_passing import sparse_to_edge_index
from e2e_gnn.nn.scatter import gather, scatter


def gcn_norm(
    edge_index: Tensor,
    edge_weight: Tensor | None,
    num_nodes: int | torch.SymInt,
    improved: bool = False,
    add_self_loops: bool = True,
    flow: str = "source_to_target",
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    r"""Symmetric GCN normalisation :math:`\hat{D}^{-1/2} \hat{A} \hat{D}^{-1/2}`, as
    ``torch_geometric.nn.conv.gcn_conv.gcn_norm`` for a ``[2, E]`` edge_index.

    With ``add_self_loops``, existing self loops are replaced by one self loop per node,
    like PyG's ``add_remaining_self_loops``, but without a data-dependent edge count (which
    would not export): existing self loops keep their place with weight 0 and N loop edges
    are appended. A loop's weight is the existing self loop's weight when the node has one
    (the last one if it has several, as PyG on CPU), else 1 (2 with ``improved``) when
    ``edge_weight`` is given, and 1 otherwise (PyG ignores ``improved`` without weights).
    With ``flow="target_to_source"`` the degrees are counted at ``edge_index[0]``.

    Returns:
        ``(edge_index [2, E'], edge_weight [E'])`` with ``E' = E + N`` when self loops are
        added, else ``E' = E``; nodes of degree 0 get a factor 0 (not inf).
    """
    check_flow("gcn_norm", flow)
    if flow == "target_to_source":
        edge_index, edge_weight = gcn_norm(
            edge_index.flip(0), edge_weight, num_nodes, improved, add_self_loops, dtype=dtype
        )
        return edge_index.flip(0), edge_weight
    source, target = edge_index[0], edge_index[1]
    if add_self_loops:
        is_loop = source == target
        loops = torch.arange(num_nodes, device=edge_index.device)
        if edge_weight is None:
            edge_weight = torch.ones(source.shape, dtype=dtype, device=edge_index.device)
            loop_weight = torch.ones(loops.shape, dtype=dtype, device=edge_index.device)
        else:
            fill = 2.0 if improved else 1.0
            # Position of each node's last self loop (-1: none), as a float max-scatter
            # (exact below 2**24 edges); PyG's index assignment leaves the last one's weight.
            position = torch.arange(source.size(0), device=edge_index.device, dtype=dtype)
            position = torch.where(is_loop, position, torch.full_like(position, -1.0))
            last = scatter(position, target, dim_size=num_nodes, reduce="max")
            has_loop = scatter(is_loop.to(dtype), target, dim_size=num_nodes) > 0
            padded = torch.cat([edge_weight, edge_weight.new_full((1,), fill)])
            last = last.long()
            no_loop = torch.zeros_like(last) + source.size(0)  # the appended fill value
            loop_weight = gather(padded, torch.where(has_loop, last, no_loop))
        edge_weight = torch.where(is_loop, torch.zeros_like(edge_weight), edge_weight)
        source = torch.cat([source, loops])
        target = torch.cat([target, loops])
        edge_weight = torch.cat([edge_weight, loop_weight])
    elif edge_weight is None:
        edge_weight = torch.ones(source.shape, dtype=dtype, device=edge_index.device)
    degree = scatter(edge_weight, target, dim_size=num_nodes)
    inv_sqrt = degree.pow(-0.5)
    inv_sqrt = torch.where(torch.isinf(inv_sqrt), torch.zeros_like(inv_sqrt), inv_sqrt)
    edge_weight = gather(inv_sqrt, source) * edge_weight * gather(inv_sqrt, target)
    return torch.stack([source, target]), edge_weight


class GCNConv(torch.nn.Module):
    r"""The graph convolutional operator from the `"Semi-supervised Classification with Graph
    Convolutional Networks" <https://arxiv.org/abs/1609.02907>`_ paper, as
    ``torch_geometric.nn.GCNConv``.

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{\Theta}^{\top} \sum_{j \in \mathcal{N}(i) \cup
        \{ i \}} \frac{e_{j,i}}{\sqrt{\hat{d}_j \hat{d}_i}} \mathbf{x}_j + \mathbf{b}

    with :math:`\hat{d}_i = 1 + \sum_{j \in \mathcal{N}(i)} e_{j,i}` and edge weights
    :math:`e_{j,i}` (default 1). Parameters are named as in torch_geometric (``lin.weight``,
    ``bias``), so ``load_state_dict(pyg_gcn_conv.state_dict())`` works.

    :math:`\mathbf{\Theta}` (no bias) commutes with the weighted sum, so it is applied on
    the narrower side of the aggregation: before it, as in torch_geometric, when
    ``out_channels <= in_channels``, after it otherwise (the per-edge gather and reduction
    then run on the ``in_channels``-wide rows).

    Args:
        in_channels (int): input features per node, or -1 (lazy: sized by the first
            forward pass or by ``load_state_dict``).
        out_channels (int): output features per node.
        improved (bool, optional): self loops of weight 2 (:math:`\mathbf{A} + 2\mathbf{I}`)
            when edge weights are given. (default: ``False``)
        cached (bool, optional): as in torch_geometric, normalise the first graph only and
            reuse it on every later call, whatever ``edge_index`` is given (transductive
            training on one fixed graph); eager only. (default: ``False``)
        add_self_loops (bool, optional): add self loops; defaults to ``normalize``.
            (default: ``None``)
        normalize (bool, optional): apply the symmetric normalisation. (default: ``True``)
        bias (bool, optional): learn an additive bias. (default: ``True``)
        flow (str, optional): ``"source_to_target"`` or ``"target_to_source"`` (messages
            from ``edge_index[1]`` to ``edge_index[0]``). (default: ``"source_to_target"``)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or
          :math:`(*, |\mathcal{V}|, F_{in})` (the same graph for every leading index),
          edge indices :math:`(2, |\mathcal{E}|)` or a ``torch.sparse`` ``adj_t``, edge
          weights :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})` or
          :math:`(*, |\mathcal{V}|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        improved: bool = False,
        cached: bool = False,
        add_self_loops: bool | None = None,
        normalize: bool = True,
        bias: bool = True,
        flow: str = "source_to_target",
    ) -> None:
        super().__init__()
        if add_self_loops is None:
            add_self_loops = normalize
        if add_self_loops and not normalize:
            msg = (
                "GCNConv does not support adding self-loops without normalisation "
                f"(add_self_loops={add_self_loops!r}, normalize={normalize!r}); "
                "use GraphConv for unnormalised sums"
            )
            raise ValueError(msg)
        check_flow("GCNConv", flow)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.improved = improved
        self.cached = cached
        self.add_self_loops = add_self_loops
        self.normalize = normalize
        self.flow = flow
        self._cached_edge_index: tuple[Tensor, Tensor] | None = None
        self.lin = linear(in_channels, out_channels, bias=False)
        if bias:
            self.bias = torch.nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if not torch.nn.parameter.is_lazy(self.lin.weight):  # type: ignore[arg-type]
            torch.nn.init.xavier_uniform_(self.lin.weight)  # type: ignore[arg-type]
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)
        self._cached_edge_index = None

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        if isinstance(x, (tuple, list)):
            msg = (
                "GCNConv received a tuple of node features as input while this layer does "
                "not support bipartite message passing; use SAGEConv or GraphConv instead"
            )
            raise ValueError(msg)
        if x.layout != torch.strided:  # torch.sparse features (eager: they cannot be traced)
            x = x.to_dense()
        check_features("GCNConv", x, self.in_channels)
        edge_index, edge_weight = self._normalized_edges(x, edge_index, edge_weight)
        widen = widens(self.lin)
        if not widen:
            x = self.lin(x)
        if x.dim() == 2:
            messages = self.message(gather(x, edge_index[0]), edge_weight)
            out = scatter(messages, edge_index[1], dim_size=x.size(0))
        else:  # [*, N, F]: the same graph for every leading index
            messages = self.message(x.index_select(-2, edge_index[0]), edge_weight)
            out = scatter(messages, edge_index[1], dim=-2, dim_size=x.size(-2))
        if widen:
            out = self.lin(out)
        if self.bias is not None:
            out = out + self.bias
        return out

    def _normalized_edges(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """``(edge_index, edge_weight)`` as source -> target edges, normalised (and taken
        from or stored in the cache when ``cached``)."""
        if (self.cached or self._cached_edge_index is not None) and (torch.compiler.is_exporting()):
            msg = (
                "GCNConv: a cached normalisation (cached=True) cannot be exported: the "
                "normalised edges of one graph would become constants of the model; set "
                "conv.cached = False and conv._cached_edge_index = None before export"
            )
            raise ValueError(msg)
        if self.normalize and self._cached_edge_index is not None:
            return self._cached_edge_index
        if edge_index.layout != torch.strided:
            # A torch.sparse adj_t: its values are the edge weights (eager only). Existing
            # self loops are replaced as for edge_index (PyG's sparse path keeps them and
            # adds one more).
            if self.flow == "target_to_source":
                msg = (
                    "GCNConv: flow='target_to_source' is invalid with a sparse adjacency; "
                    "pass the transposed sparse tensor (adj_t.t()) instead"
                )
                raise ValueError(msg)
            edge_index, values = sparse_to_edge_index("GCNConv", edge_index)
            edge_weight = values if edge_weight is None else edge_weight
        check_edge_index("GCNConv", edge_index)
        if edge_weight is not None:
            check_edge_vector("GCNConv", "edge_weight", edge_weight, edge_index)
        if self.flow == "target_to_source":
            edge_index = edge_index.flip(0)
        if self.normalize:
            edge_index, edge_weight = gcn_norm(
                edge_index,
                edge_weight,
                x.size(-2),
                self.improved,
                self.add_self_loops,
                dtype=x.dtype,
            )
            if self.cached:
                self._cached_edge_index = (edge_index, edge_weight)
        return edge_index, edge_weight

    def message(self, x_j: Tensor, edge_weight: Tensor | None) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
