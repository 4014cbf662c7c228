from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_edge_index, check_flow, check_x, reset
from e2e_gnn.nn._fused_ops import edge_aggregate, exporting_fused
from e2e_gnn.nn.fixed_degree import NeighborTable
from e2e_gnn.nn.message_passing import dense_edges
from e2e_gnn.nn.scatter import exporting_exact, gather, incoming_chunks, scatter

AGGREGATIONS = ("add", "sum", "mean", "max")

EXPORT_CHUNK = 32
"""Incoming edges per table row in the exact export: kNN graphs with k (+ 1 self loop) up
to 32 get one row per node and no padding; messages are computed on every slot, so
irregular graphs pay for the padding (measured in docs/aggregation.md)."""


class EdgeConv(torch.nn.Module):
    r"""The edge convolutional operator from the `"Dynamic Graph CNN for Learning on Point
    Clouds" <https://arxiv.org/abs/1801.07829>`_ paper, as ``torch_geometric.nn.EdgeConv``.

    .. math::
        \mathbf{x}^{\prime}_i = \bigoplus_{j \in \mathcal{N}(i)}
        h_{\mathbf{\Theta}}(\mathbf{x}_i \, \Vert \, \mathbf{x}_j - \mathbf{x}_i)

    where :math:`\bigoplus` is the aggregation, :math:`h_{\mathbf{\Theta}}` a neural network
    (e.g. an MLP) and :math:`\mathcal{N}(i)` the sources of the edges whose target
    (``edge_index[1]``) is :math:`i`. Nodes without incoming edges get 0.

    The parameters are named as in torch_geometric (``nn.*``), so
    ``EdgeConv(nn).load_state_dict(pyg_edge_conv.state_dict())`` works.

    When ``nn`` starts with a :class:`torch.nn.Linear` (alone or first in a
    :class:`torch.nn.Sequential`), that layer is split exactly into per-node terms,
    :math:`W [\mathbf{x}_i \Vert \mathbf{x}_j - \mathbf{x}_i] + b = ((W_1 - W_2)\mathbf{x}_i
    + b) + W_2 \mathbf{x}_j`, computed once per node and gathered per edge: |V| instead of
    |E| rows through the widest matrix product. The modules after it see the same values as
    in torch_geometric (up to float rounding, < 1e-5 in the parity tests).

    With ``"mean"`` or ``"add"`` aggregation, the affine modules that end ``nn`` (a
    :class:`torch.nn.Sequential` ending in a Linear, as torch_geometric's ``MLP`` builds by
    default, or in any of Linear, Identity, BatchNorm1d in eval mode with running
    statistics, Dropout in eval mode) are applied after the aggregation instead of per edge,
    which is exact: for an affine map :math:`T(\mathbf{h}) = A\mathbf{h} + \mathbf{c}`,
    :math:`\mathrm{mean}_j\, T(\mathbf{h}_{ij}) = T(\mathrm{mean}_j\, \mathbf{h}_{ij})` for
    nodes with incoming edges, :math:`\sum_j T(\mathbf{h}_{ij}) = A \sum_j \mathbf{h}_{ij} +
    d_i \mathbf{c}` (:math:`d_i` the in-degree), and nodes without incoming edges still get
    0. Their matrix products then run on |V| rows instead of |E|. The condition is checked
    on every call (a BatchNorm1d or Dropout in training mode is not moved: it does not act
    row by row), ``"max"`` never moves anything, and the parameters keep their names.

    Args:
        nn (torch.nn.Module): maps ``[-1, 2 * in_channels]`` to ``[-1, out_channels]``,
            e.g. a :class:`torch.nn.Sequential`; modules after its first Linear must act
            row by row (Linear, activations, BatchNorm1d, Dropout).
        aggr (str, optional): ``"add"`` (alias ``"sum"``), ``"mean"`` or ``"max"``.
            (default: ``"max"``)
        fixed_degree (int, optional): if set, ``edge_index`` must be grouped by target in
            increasing order with at most ``fixed_degree`` edges per target (what kNN graph
            builders emit: k, or k + 1 with self loops); aggregation then runs as a gather
            and a masked reduce over a ``[N, fixed_degree]`` table instead of a scatter
            (:class:`e2e_gnn.nn.fixed_degree.NeighborTable`). ``nn`` then also runs on the
            masked slots of nodes with fewer than ``fixed_degree`` edges (their results are
            discarded), which matters only for a BatchNorm in training mode.
            (default: ``None``)
        flow (str, optional): ``"source_to_target"`` or ``"target_to_source"`` (messages
            from ``edge_index[1]`` to ``edge_index[0]``). (default: ``"source_to_target"``)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or a pair
          :math:`((|\mathcal{V}_s|, F_{in}), (|\mathcal{V}_t|, F_{in}))`, edge indices
          :math:`(2, |\mathcal{E}|)`
        - **output:** node features :math:`(|\mathcal{V}_t|, F_{out})`
    """

    def __init__(
        self,
        nn: Callable[[Tensor], Tensor],
        aggr: str = "max",
        fixed_degree: int | None = None,
        flow: str = "source_to_target",
    ) -> None:
        super().__init__()
        if aggr not in AGGREGATIONS:
            msg = f"EdgeConv: `aggr` must be one of {AGGREGATIONS}, got {aggr!r}"
            raise ValueError(msg)
        if fixed_degree is not None and fixed_degree < 1:
            msg = f"EdgeConv: `fixed_degree` must be a positive int or None, got {fixed_degree!r}"
            raise ValueError(msg)
        check_flow("EdgeConv", flow)
        self.nn = nn
        self.aggr = aggr
        self.fixed_degree = fixed_degree
        self.flow = flow
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if isinstance(self.nn, torch.nn.Module):
            reset(self.nn)

    def forward(self, x: Tensor | tuple[Tensor, Tensor], edge_index: Tensor) -> Tensor:
        x_src, x_dst = (x, x) if isinstance(x, Tensor) else x
        check_x("EdgeConv", x_src)
        check_x("EdgeConv", x_dst)
        edge_index = dense_edges("EdgeConv", edge_index)[0]
        check_edge_index("EdgeConv", edge_index)
        if self.flow == "target_to_source":
            edge_index = edge_index.flip(0)
        num_nodes = x_dst.size(0)
        tail = affine_tail(self.nn, self.aggr, x_dst.size(1))
        if exporting_fused():
            fused = fused_aggregate(self.nn, self.aggr, x_dst, x_src, edge_index, tail)
            if fused is not None:
                return fused
        if self.fixed_degree is not None:
            table = NeighborTable.from_edge_index(edge_index, num_nodes, self.fixed_degree)
            targets = torch.arange(num_nodes, device=x_dst.device).view(-1, 1)
            messages = edge_messages(self.nn, x_dst, targets, table.neighbors, x_src, tail)
            return apply_tail(tail, table.reduce(messages, self.aggr), table.degree, self.aggr)
        source, target = edge_index[0], edge_index[1]
        if exporting_exact():
            return self._export_aggregate(x_src, x_dst, source, target, tail)
        messages = edge_messages(self.nn, x_dst, target, source, x_src, tail)
        if not tail:
            return scatter(messages, target, dim_size=num_nodes, reduce=self.aggr)  # type: ignore[arg-type]
        out = scatter(messages, target, dim_size=num_nodes)
        degree = scatter(messages.new_ones(target.shape), target, dim_size=num_nodes)
        if self.aggr == "mean":
            out = out / degree.clamp(min=1).view(-1, 1)
        return apply_tail(tail, out, degree, self.aggr)

    def _export_aggregate(
        self,
        x_src: Tensor,
        x_dst: Tensor,
        source: Tensor,
        target: Tensor,
        tail: list[torch.nn.Module],
    ) -> Tensor:
        """The exact ONNX export: messages computed directly in a table of each node's
        incoming edges (rows of at most EXPORT_CHUNK), reduced per row, then per node. Same
        result as the scatter path without copying [E, F] messages into a padded table:
        1.2x faster on the README event's kNN graph, 1.2x slower on random graphs."""
        num_nodes = x_dst.size(0)
        edges, valid, rows = incoming_chunks(target, num_nodes, EXPORT_CHUNK)
        table = NeighborTable(gather(source, edges), valid)
        messages = edge_messages(self.nn, x_dst, rows.view(-1, 1), table.neighbors, x_src, tail)
        extreme = self.aggr == "max"
        partial = table.reduce(messages, "max" if extreme else "sum")  # [chunks, F]
        out = scatter(partial, rows, dim_size=num_nodes, reduce="max" if extreme else "sum")
        if self.aggr == "mean" or tail:
            degree = scatter(table.degree, rows, dim_size=num_nodes)
            if self.aggr == "mean":
                out = out / degree.clamp(min=1).view(-1, 1)
            out = apply_tail(tail, out, degree, self.aggr)
        return out

    def __repr__(self) -> str:
        if self.fixed_degree is None:
            return f"{self.__class__.__name__}(nn={self.nn})"
        return f"{self.__class__.__name__}(nn={self.nn}, fixed_degree={self.fixed_degree})"


def edge_messages(
    nn: Callable[[Tensor], Tensor],
    x: Tensor,
    target: Tensor,
    source: Tensor,
    x_src: Tensor | None = None,
    tail: list[torch.nn.Module] | None = None,
) -> Tensor:
    """EdgeConv messages ``nn(x_i || x_j - x_i)`` for index tensors ``target`` (i, rows of
    ``x``) and ``source`` (j, rows of ``x_src``, default ``x``) that broadcast to the
    message layout ([E] or [N, k]); returns ``[*layout, F_out]``. With ``tail`` (the
    :func:`affine_tail` of ``nn``), those last modules of ``nn`` are left out: the caller
    applies them after the aggregation (:func:`apply_tail`).

    When ``nn`` starts with a Linear on ``2 * F`` inputs, that layer is split exactly into
    per-node terms: ``W [x_i || x_j - x_i] + b = ((W_1 - W_2) x_i + b) + W_2 x_j``,
    computed once per node and gathered per message. Otherwise ``nn`` runs per message.
    """
    x_src = x if x_src is None else x_src
    width = x.size(1)
    body = _modules(nn)
    if body is not None and tail:
        body = body[: len(body) - len(tail)]
    if body is None or not _splits(body, width):
        x_j = gather(x_src, source)
        x_i = gather(x, target).expand_as(x_j)
        flat = torch.cat([x_i, x_j - x_i], dim=-1).reshape(-1, 2 * width)
        if body is None:
            flat = nn(flat)
        for layer in body or []:
            flat = layer(flat)
        return flat.reshape((*x_j.shape[:-1], flat.size(-1)))
    node_i, node_j = node_terms(body[0], x, x_src)
    rest = body[1:]
    hidden = gather(node_i, target) + gather(node_j, source)
    flat = hidden.reshape(-1, hidden.size(-1))
    for layer in rest:
        flat = layer(flat)
    return flat.reshape((*hidden.shape[:-1], flat.size(-1)))


def node_terms(first: torch.nn.Module, x: Tensor, x_src: Tensor) -> tuple[Tensor, Tensor]:
    """The first Linear of the messages split per node: ``W [x_i || x_j - x_i] + b =
    node_i[i] + node_j[j]`` with ``node_i = (W_1 - W_2) x + b`` and ``node_j = W_2 x_src``."""
    assert isinstance(first, torch.nn.Linear)
    width = x.size(1)
    w_i = first.weight[:, :width] - first.weight[:, width:]
    node_i = torch.nn.functional.linear(x, w_i, first.bias)
    return node_i, torch.nn.functional.linear(x_src, first.weight[:, width:])


def fused_aggregate(
    nn: Callable[[Tensor], Tensor],
    aggr: str,
    x: Tensor,
    x_src: Tensor,
    edge_index: Tensor,
    tail: list[torch.nn.Module],
) -> Tensor | None:
    """The layer through the fused ``ai.e2e_gnn.EdgeAggregate`` operator (exports with
    :func:`e2e_gnn.nn.fused_operators`), when the messages are the split first Linear
    followed by at most a ReLU before the ``tail`` (:func:`affine_tail`): gather, add,
    activation and reduction in one pass over the edges. None for any other ``nn``."""
    body = _modules(nn)
    if body is None or not _splits(body, x.size(1)):
        return None
    rest = body[1 : len(body) - len(tail)]
    if not rest:
        activation = "identity"
    elif len(rest) == 1 and type(rest[0]) is torch.nn.ReLU:
        activation = "relu"
    else:
        return None
    node_i, node_j = node_terms(body[0], x, x_src)
    reduce = "sum" if aggr == "add" else aggr
    out, degree = edge_aggregate(node_i, node_j, edge_index[0], edge_index[1], activation, reduce)
    return apply_tail(tail, out, degree, aggr)


def affine_tail(nn: Callable[[Tensor], Tensor], aggr: str, width: int) -> list[torch.nn.Module]:
    """The modules that end ``nn`` and commute exactly with the aggregation ``aggr`` (to be
    applied per node after it), or ``[]``.

    Only for ``"mean"``/``"add"``/``"sum"``, and only modules that are affine maps acting row
    by row in their current mode: Linear, Identity, BatchNorm1d in eval mode with running
    statistics, Dropout in eval mode. A leading Linear that :func:`edge_messages` splits
    per node stays in the messages (moving it would not save a per-edge product)."""
    modules = _modules(nn)
    if aggr not in ("mean", "add", "sum") or modules is None:
        return []
    keep = 1 if _splits(modules, width) else 0
    count = 0
    while count < len(modules) - keep and _is_affine(modules[len(modules) - 1 - count]):
        count += 1
    return modules[len(modules) - count :]


def apply_tail(tail: list[torch.nn.Module], out: Tensor, degree: Tensor, aggr: str) -> Tensor:
    """The aggregated messages ``out`` [N, F] through the affine ``tail`` :math:`T`, with the
    result of applying :math:`T` per message before the aggregation, for in-degrees
    ``degree`` [N]: ``mean``: :math:`T(out)`; ``add``: :math:`T(out) + (d - 1) T(0)`
    (:math:`T(0)` is the constant term, which a sum of :math:`d` messages holds :math:`d`
    times). Nodes without edges get exactly 0."""
    if not tail:
        return out
    zero = out.new_zeros((1, out.size(-1)))
    for layer in tail:
        out = layer(out)
        zero = layer(zero)
    if aggr != "mean":
        out = out + (degree - 1).view(-1, 1) * zero
    return out * (degree > 0).to(out.dtype).view(-1, 1)


def _modules(nn: Callable[[Tensor], Tensor]) -> list[torch.nn.Module] | None:
    """``nn`` as the list of modules it applies in turn (a Linear or a Sequential), or
    None for any other callable (run as a whole, per message)."""
    if isinstance(nn, torch.nn.Linear):
        return [nn]
    if isinstance(nn, torch.nn.Sequential):
        return list(nn)
    return None


def _splits(modules: list[torch.nn.Module], width: int) -> bool:
    """Whether the messages start with a Linear on ``2 * width`` inputs (split per node)."""
    first = modules[0] if modules else None
    return isinstance(first, torch.nn.Linear) and first.in_features == 2 * width


def _is_affine(module: torch.nn.Module) -> bool:
    """Whether ``module`` is an affine map of each row on its own, in its current mode."""
    if isinstance(module, (torch.nn.Linear, torch.nn.Identity)):
        return True
    if isinstance(module, torch.nn.Dropout):
        return not module.training
    if isinstance(module, torch.nn.BatchNorm1d):
        # Running statistics are used only in eval mode and when they are tracked.
        return not module.training and module.running_mean is not None
    return False
