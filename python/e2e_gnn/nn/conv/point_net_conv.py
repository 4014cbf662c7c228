from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_2d, reset
from e2e_gnn.nn.message_passing import MessagePassing


class PointNetConv(MessagePassing):
    r"""The PointNet set layer from the `"PointNet: Deep Learning on Point Sets for 3D
    Classification and Segmentation" <https://arxiv.org/abs/1612.00593>`_ and `"PointNet++"
    <https://arxiv.org/abs/1706.02413>`_ papers, as ``torch_geometric.nn.PointNetConv``.

    .. math::
        \mathbf{x}^{\prime}_i = \gamma_{\mathbf{\Theta}} \left( \max_{j \in
        \mathcal{N}(i) \cup \{ i \}} h_{\mathbf{\Theta}} ( \mathbf{x}_j,
        \mathbf{p}_j - \mathbf{p}_i) \right)

    Parameters are named as in torch_geometric (``local_nn.*``, ``global_nn.*``).

    With ``add_self_loops``, PyG removes the existing self loops and adds one per node;
    here the existing self loops are aggregated into a discarded extra row and N loops are
    appended, so the edge count is not data dependent and the layer exports.

    Args:
        local_nn (torch.nn.Module, optional): :math:`h_{\mathbf{\Theta}}` on
            ``[x_j || pos_j - pos_i]``. (default: ``None``)
        global_nn (torch.nn.Module, optional): :math:`\gamma_{\mathbf{\Theta}}`.
            (default: ``None``)
        add_self_loops (bool, optional): add a self loop to every node. (default: ``True``)
        **kwargs: ``aggr`` (default ``"max"``), ... of :class:`e2e_gnn.nn.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, a pair or ``None``,
          positions :math:`(|\mathcal{V}|, 3)` or a pair, edge indices
          :math:`(2, |\mathcal{E}|)`
        - **output:** node features :math:`(|\mathcal{V}_t|, F_{out})`
    """

    def __init__(
        self,
        local_nn: Callable[[Tensor], Tensor] | None = None,
        global_nn: Callable[[Tensor], Tensor] | None = None,
        add_self_loops: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("aggr", "max")
        super().__init__(**kwargs)
        self.local_nn = local_nn
        self.global_nn = global_nn
        self.add_self_loops = add_self_loops
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for nn in (self.local_nn, self.global_nn):
            if isinstance(nn, torch.nn.Module):
                reset(nn)

    def forward(
        self,
        x: Tensor | tuple[Tensor | None, Tensor | None] | None,
        pos: Tensor | tuple[Tensor, Tensor],
        edge_index: Tensor,
    ) -> Tensor:
        if not isinstance(x, tuple):
            x = (x, None)
        if isinstance(pos, Tensor):
            pos = (pos, pos)
        check_2d("PointNetConv", "x", *x)
        check_2d("PointNetConv", "pos", *pos)
        existing_loop = None
        if self.add_self_loops:
            existing_loop = edge_index[0] == edge_index[1]
            count = torch.sym_min(pos[0].size(0), pos[1].size(0))
            loops = torch.arange(count, device=edge_index.device)
            edge_index = torch.cat([edge_index, loops.repeat(2, 1)], dim=1)
            existing_loop = torch.cat([existing_loop, torch.zeros_like(loops, dtype=torch.bool)])
        out = self.propagate(edge_index, x=x, pos=pos, existing_loop=existing_loop)
        if self.global_nn is not None:
            out = self.global_nn(out)
        return out

    def message(self, x_j: Tensor | None, pos_i: Tensor, pos_j: Tensor) -> Tensor:
        msg = pos_j - pos_i
        if x_j is not None:
            msg = torch.cat([x_j, msg], dim=1)
        if self.local_nn is not None:
            msg = self.local_nn(msg)
        return msg

    def aggregate(
        self,
        inputs: Tensor,
        index: Tensor,
        dim_size: int | None = None,
        existing_loop: Tensor | None = None,
    ) -> Tensor:
        if existing_loop is None or dim_size is None:
            return super().aggregate(inputs, index, dim_size=dim_size)
        # The replaced self loops go to row dim_size, dropped after the reduction.
        index = torch.where(existing_loop, torch.full_like(index, dim_size), index)
        out = super().aggregate(inputs, index, dim_size=dim_size + 1)
        return out.narrow(self.node_dim, 0, dim_size)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(local_nn={self.local_nn}, global_nn={self.global_nn})"
