from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn._checks import reset
from e2e_gnn.nn.message_passing import MessagePassing


class GINConv(MessagePassing):
    r"""The graph isomorphism operator from the `"How Powerful are Graph Neural Networks?"
    <https://arxiv.org/abs/1810.00826>`_ paper, as ``torch_geometric.nn.GINConv``.

    .. math::
        \mathbf{x}^{\prime}_i = h_{\mathbf{\Theta}} \left( (1 + \epsilon) \cdot
        \mathbf{x}_i + \sum_{j \in \mathcal{N}(i)} \mathbf{x}_j \right)

    Parameters are named as in torch_geometric (``nn.*``, ``eps``).

    Args:
        nn (torch.nn.Module): maps ``[-1, in_channels]`` to ``[-1, out_channels]``.
        eps (float, optional): (initial) :math:`\epsilon`. (default: ``0.``)
        train_eps (bool, optional): learn :math:`\epsilon`. (default: ``False``)
        **kwargs: ``aggr``, ``flow``, ... of :class:`e2e_gnn.nn.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or a pair
          (source, target), edge indices :math:`(2, |\mathcal{E}|)` or a ``torch.sparse``
          ``adj_t``, ``size`` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}_t|, F_{out})`
    """

    def __init__(
        self,
        nn: Callable[[Tensor], Tensor],
        eps: float = 0.0,
        train_eps: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("aggr", "add")
        super().__init__(**kwargs)
        self.nn = nn
        self.initial_eps = eps
        if train_eps:
            self.eps = torch.nn.Parameter(torch.empty(1))
        else:
            self.register_buffer("eps", torch.empty(1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if isinstance(self.nn, torch.nn.Module):
            reset(self.nn)
        self.eps.data.fill_(self.initial_eps)

    def forward(
        self,
        x: Tensor | tuple[Tensor, Tensor | None],
        edge_index: Tensor,
        size: tuple[int, int] | None = None,
    ) -> Tensor:
        if isinstance(x, Tensor):
            x = (x, x)
        out = self.propagate(edge_index, x=x, size=size)
        return self.nn(_with_root(out, self.eps, x[1]))

    def message(self, x_j: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        # edge_weight is only set by a torch.sparse adj_t (its values), which PyG's sparse
        # product applies as weights.
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(nn={self.nn})"


class GINEConv(MessagePassing):
    r"""The modified GIN operator with edge features from the `"Strategies for Pre-training
    Graph Neural Networks" <https://arxiv.org/abs/1905.12265>`_ paper, as
    ``torch_geometric.nn.GINEConv``.

    .. math::
        \mathbf{x}^{\prime}_i = h_{\mathbf{\Theta}} \left( (1 + \epsilon) \cdot
        \mathbf{x}_i + \sum_{j \in \mathcal{N}(i)} \mathrm{ReLU}
        ( \mathbf{x}_j + \mathbf{e}_{j,i} ) \right)

    Parameters are named as in torch_geometric (``nn.*``, ``eps``, ``lin``).

    Args:
        nn (torch.nn.Module): maps ``[-1, in_channels]`` to ``[-1, out_channels]``.
        eps (float, optional): (initial) :math:`\epsilon`. (default: ``0.``)
        train_eps (bool, optional): learn :math:`\epsilon`. (default: ``False``)
        edge_dim (int, optional): edge feature width; if set, edge features are mapped to
            the node width by a Linear (``lin``), else the widths must match.
            (default: ``None``)
        **kwargs: ``aggr``, ``flow``, ... of :class:`e2e_gnn.nn.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or a pair
          (source, target), edge indices :math:`(2, |\mathcal{E}|)`, edge features
          :math:`(|\mathcal{E}|, D)`, ``size`` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}_t|, F_{out})`
    """

    def __init__(
        self,
        nn: torch.nn.Module,
        eps: float = 0.0,
        train_eps: bool = False,
        edge_dim: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("aggr", "add")
        super().__init__(**kwargs)
        self.nn = nn
        self.initial_eps = eps
        if train_eps:
            self.eps = torch.nn.Parameter(torch.empty(1))
        else:
            self.register_buffer("eps", torch.empty(1))
        self.lin: torch.nn.Linear | None = None
        if edge_dim is not None:
            first = nn[0] if isinstance(nn, torch.nn.Sequential) else nn
            width = getattr(first, "in_features", getattr(first, "in_channels", None))
            if not isinstance(width, int):
                msg = "GINEConv: could not infer the input width from `nn` (for edge_dim)"
                raise ValueError(msg)
            self.lin = torch.nn.Linear(edge_dim, width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset(self.nn)
        self.eps.data.fill_(self.initial_eps)
        if self.lin is not None:
            self.lin.reset_parameters()

    def forward(
        self,
        x: Tensor | tuple[Tensor, Tensor | None],
        edge_index: Tensor,
        edge_attr: Tensor | None = None,
        size: tuple[int, int] | None = None,
    ) -> Tensor:
        if isinstance(x, Tensor):
            x = (x, x)
        out = self.propagate(edge_index, x=x, edge_attr=edge_attr, size=size)
        return self.nn(_with_root(out, self.eps, x[1]))

    def message(self, x_j: Tensor, edge_attr: Tensor) -> Tensor:
        if self.lin is None and x_j.size(-1) != edge_attr.size(-1):
            msg = (
                f"GINEConv: node features have {x_j.size(-1)} columns and edge features "
                f"{edge_attr.size(-1)}; set edge_dim to map the edge features"
            )
            raise ValueError(msg)
        if self.lin is not None:
            edge_attr = self.lin(edge_attr)
        return (x_j + edge_attr).relu()

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(nn={self.nn})"


def _with_root(out: Tensor, eps: Tensor, x_dst: Tensor | None) -> Tensor:
    """``out + (1 + eps) x_dst``; PyG's ``(x_src, None)`` form has no root term."""
    return out if x_dst is None else out + (1 + eps) * x_dst
