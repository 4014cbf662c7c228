from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_features
from e2e_gnn.nn.conv._linear import linear, linear_sum, narrows, pair
from e2e_gnn.nn.message_passing import MessagePassing


class SAGEConv(MessagePassing):
    r"""The GraphSAGE operator from the `"Inductive Representation Learning on Large Graphs"
    <https://arxiv.org/abs/1706.02216>`_ paper, as ``torch_geometric.nn.SAGEConv``.

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2 \cdot
        \bigoplus_{j \in \mathcal{N}(i)} \mathbf{x}_j

    Parameters are named as in torch_geometric (``lin_l``, ``lin_r``, ``lin``).

    With ``"mean"`` or ``"sum"`` aggregation and ``out_channels`` smaller than the source
    width, :math:`\mathbf{W}_2` is applied to the source features before the aggregation
    (exact: it commutes with a sum or a mean, and nodes without neighbours aggregate to 0
    either way), so the per-edge gather and reduction run on the narrower rows.

    Args:
        in_channels (int or tuple): input features per node, ``(source, target)`` widths
            for a bipartite graph, or -1 (lazy: sized by the first forward pass).
        out_channels (int): output features per node.
        aggr (str or list, optional): an aggregation of :class:`e2e_gnn.nn.MessagePassing`
            or a list of them (``MultiAggregation``; ``aggr_kwargs={"mode": ...}``).
            ``"lstm"`` runs in eager mode only, as torch_geometric's ``LSTMAggregation``
            (``aggr_module.lstm``; edges sorted by target) and raises at export.
            (default: ``"mean"``)
        normalize (bool, optional): L2-normalise the output rows. (default: ``False``)
        root_weight (bool, optional): add the :math:`\mathbf{W}_1 \mathbf{x}_i` term.
            (default: ``True``)
        project (bool, optional): project the source features with a Linear + ReLU first.
            (default: ``False``)
        bias (bool, optional): learn an additive bias (in ``lin_l``). (default: ``True``)
        **kwargs: ``aggr_kwargs``, ``flow``, ``node_dim``, ... of
            :class:`e2e_gnn.nn.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or a pair
          :math:`((|\mathcal{V}_s|, F_s), (|\mathcal{V}_t|, F_t))`, edge indices
          :math:`(2, |\mathcal{E}|)` or a ``torch.sparse`` ``adj_t``, ``size`` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}_t|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int | tuple[int, int],
        out_channels: int,
        aggr: Any = "mean",
        normalize: bool = False,
        root_weight: bool = True,
        project: bool = False,
        bias: bool = True,
        **kwargs: Any,
    ) -> None:
        lstm = isinstance(aggr, str) and aggr == "lstm"
        super().__init__(aggr=None if lstm else aggr, **kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.normalize = normalize
        self.root_weight = root_weight
        self.project = project
        widths = pair(in_channels)
        if project:
            if widths[0] <= 0:
                msg = (
                    "SAGEConv does not support lazy initialisation (in_channels=-1) with "
                    "project=True"
                )
                raise ValueError(msg)
            self.lin = torch.nn.Linear(widths[0], widths[0], bias=True)
        aggr_width = widths[0]
        if lstm:
            if widths[0] <= 0:
                msg = (
                    "SAGEConv does not support lazy initialisation (in_channels=-1) with "
                    "aggr='lstm'"
                )
                raise ValueError(msg)
            self.aggr = "lstm"
            self.aggr_module = LSTMAggregation(widths[0], widths[0])
        if self._mode in ("proj", "attn"):
            aggr_width = self.aggr_module.out_channels
        elif isinstance(self.aggr, list) and self._mode == "cat" and widths[0] > 0:
            aggr_width = widths[0] * len(self.aggr)
        self.lin_l = linear(aggr_width, out_channels, bias=bias)
        if root_weight:
            self.lin_r = linear(widths[1], out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.aggr == "lstm":
            self.aggr_module.lstm.reset_parameters()
        if self.project:
            self.lin.reset_parameters()
        self.lin_l.reset_parameters()  # type: ignore[operator]
        if self.root_weight:
            self.lin_r.reset_parameters()  # type: ignore[operator]

    def forward(
        self,
        x: Tensor | tuple[Tensor, Tensor | None],
        edge_index: Tensor,
        size: tuple[int, int] | None = None,
    ) -> Tensor:
        if isinstance(x, Tensor):
            x = (x, x)
        widths = pair(self.in_channels)
        check_features("SAGEConv", x[0], widths[0])
        # PyG's (x_src, None): no root term
        root = self.root_weight and x[1] is not None
        if x[1] is not None:
            check_features("SAGEConv", x[1], widths[1])
        if self.project:
            x = (self.lin(x[0]).relu(), x[1])
        if self._reductions in (["sum"], ["mean"]) and narrows(self.lin_l):
            # W (sum or mean of x_j) = sum or mean of W x_j (0 for nodes without edges
            # either way): aggregate the narrower out_channels-wide rows.
            source = torch.nn.functional.linear(x[0], self.lin_l.weight)
            out = self.propagate(edge_index, x=(source, x[1]), size=size)
            if self.lin_l.bias is not None:
                out = out + self.lin_l.bias
            if root:
                out = out + self.lin_r(x[1])
        else:
            out = self.propagate(edge_index, x=x, size=size)
            out = (
                linear_sum(self.lin_l, out, self.lin_r, x[1])  # type: ignore[arg-type]
                if root
                else self.lin_l(out)
            )
        if self.normalize:
            out = torch.nn.functional.normalize(out, p=2.0, dim=-1)
        return out

    def aggregate(
        self,
        inputs: Tensor,
        index: Tensor,
        ptr: Tensor | None = None,
        dim_size: int | None = None,
    ) -> Tensor:
        if self.aggr == "lstm":
            return self.aggr_module(inputs, index, dim_size)  # type: ignore[no-any-return]
        return super().aggregate(inputs, index, ptr, dim_size)

    def message(self, x_j: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        # edge_weight is only set by a torch.sparse adj_t (its values), which PyG's sparse
        # product applies as weights.
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggr={self.aggr})"
        )


class LSTMAggregation(torch.nn.Module):
    """torch_geometric's ``LSTMAggregation`` (eager only): each node's incoming messages, in
    edge order and zero-padded to the largest in-degree, run through an LSTM; the output
    after the last step. The result depends on the order of the edges and on the padding, so
    it has no exact exportable form."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lstm = torch.nn.LSTM(in_channels, out_channels, batch_first=True)

    def forward(self, x: Tensor, index: Tensor, dim_size: int | None) -> Tensor:
        if torch.compiler.is_exporting():
            msg = (
                "SAGEConv: aggr='lstm' cannot be exported to ONNX (its result depends on the "
                "edge order and the padding); use 'mean', 'max', 'sum' or a list of them"
            )
            raise ValueError(msg)
        if index.numel() > 1 and bool((index[1:] < index[:-1]).any()):
            msg = (
                "SAGEConv: the 'index' tensor is not sorted: aggr='lstm' needs edge_index "
                "sorted by target, as in torch_geometric "
                "(edge_index[:, edge_index[1].argsort(stable=True)])"
            )
            raise ValueError(msg)
        rows = int(index.max()) + 1 if dim_size is None else int(dim_size)
        counts = torch.bincount(index, minlength=rows)
        first = torch.cumsum(counts, 0) - counts
        slot = torch.arange(index.numel(), device=x.device) - first[index]
        dense = x.new_zeros((rows, int(counts.max()) if rows else 0, x.size(-1)))
        dense[index, slot] = x
        return self.lstm(dense)[0][:, -1]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
