from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter, is_lazy

from e2e_gnn.nn._checks import check_edge_index, check_edge_vector, check_features, check_flow
from e2e_gnn.nn.conv.gcn_conv import gcn_norm
from e2e_gnn.nn.message_passing import dense_edges
from e2e_gnn.nn.scatter import gather, scatter


class ARMAConv(LazyModuleMixin, torch.nn.Module):
    r"""The ARMA graph convolutional operator from the `"Graph Neural Networks with
    Convolutional ARMA Filters" <https://arxiv.org/abs/1901.01343>`_ paper, as
    ``torch_geometric.nn.ARMAConv`` (used by the ATLAS displaced-photon GNN).

    .. math::
        \mathbf{X}^{\prime} = \frac{1}{K} \sum_{k=1}^K \mathbf{X}_k^{(T)},
        \qquad
        \mathbf{X}_k^{(t+1)} = \sigma \left( \mathbf{\hat{L}} \mathbf{X}_k^{(t)}
        \mathbf{W} + \mathbf{X}^{(0)} \mathbf{V} + \mathbf{b} \right)

    with :math:`\mathbf{\hat{L}} = \mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}` (no self
    loops), K stacks and T layers. Parameters are named and shaped as in torch_geometric
    (``init_weight [K, F_in, F_out]``, ``weight [max(1, T - 1), K, F_out, F_out]``,
    ``root_weight [T, K, F_in, F_out]``, ``bias [T, K, 1, F_out]``; T = 1 with
    ``shared_weights``).

    Args:
        in_channels (int): input features per node; ``-1``: sized by the first forward
            pass or by ``load_state_dict`` (PyG's lazy form).
        out_channels (int): output features per node.
        num_stacks (int, optional): number of parallel stacks K. (default: ``1``)
        num_layers (int, optional): number of layers T per stack. (default: ``1``)
        shared_weights (bool, optional): share the weights across layers.
            (default: ``False``)
        act (callable, optional): activation :math:`\sigma`. (default: ReLU)
        dropout (float, optional): dropout on the skip term during training.
            (default: ``0.0``)
        bias (bool, optional): learn an additive bias. (default: ``True``)
        flow (str, optional): ``"source_to_target"`` or ``"target_to_source"`` (messages
            from ``edge_index[1]`` to ``edge_index[0]``). (default: ``"source_to_target"``)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or
          :math:`(*, |\mathcal{V}|, F_{in})` (the same graph for every leading index),
          edge indices :math:`(2, |\mathcal{E}|)`, edge weights :math:`(|\mathcal{E}|)`
          *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})` or
          :math:`(*, |\mathcal{V}|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_stacks: int = 1,
        num_layers: int = 1,
        shared_weights: bool = False,
        act: Callable[[Tensor], Tensor] | None = torch.nn.ReLU(),  # noqa: B008 (PyG's default)
        dropout: float = 0.0,
        bias: bool = True,
        flow: str = "source_to_target",
    ) -> None:
        super().__init__()
        check_flow("ARMAConv", flow)
        if in_channels == 0 or in_channels < -1:
            msg = f"ARMAConv: `in_channels` must be positive or -1 (lazy), got {in_channels!r}"
            raise ValueError(msg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_stacks = num_stacks
        self.num_layers = num_layers
        self.shared_weights = shared_weights
        self.act = act
        self.dropout = dropout
        self.flow = flow
        k, t = num_stacks, 1 if shared_weights else num_layers
        self.weight = torch.nn.Parameter(torch.empty(max(1, t - 1), k, out_channels, out_channels))
        if in_channels == -1:
            self.init_weight = UninitializedParameter()
            self.root_weight = UninitializedParameter()
        else:
            self.init_weight = torch.nn.Parameter(torch.empty(k, in_channels, out_channels))
            self.root_weight = torch.nn.Parameter(torch.empty(t, k, in_channels, out_channels))
        if bias:
            self.bias = torch.nn.Parameter(torch.empty(t, k, 1, out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for weight in (self.weight, self.init_weight, self.root_weight):
            if not is_lazy(weight):
                _glorot(weight)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def initialize_parameters(self, x: Tensor, *args: object, **kwargs: object) -> None:
        """Sizes the lazy weights by ``x``'s features (LazyModuleMixin's first-call hook)."""
        if self.has_uninitialized_params():
            k, t = self.num_stacks, self.root_weight_layers
            with torch.no_grad():
                self.init_weight.materialize((k, x.size(-1), self.out_channels))
                self.root_weight.materialize((t, k, x.size(-1), self.out_channels))
                _glorot(self.init_weight)
                _glorot(self.root_weight)

    @property
    def root_weight_layers(self) -> int:
        return 1 if self.shared_weights else self.num_layers

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        check_features("ARMAConv", x, self.in_channels)
        if self.flow == "target_to_source" and edge_index.layout != torch.strided:
            msg = (
                "ARMAConv: flow='target_to_source' is invalid with a sparse adjacency; "
                "pass the transposed sparse tensor (adj_t.t()) instead"
            )
            raise ValueError(msg)
        edge_index, edge_weight = dense_edges("ARMAConv", edge_index, edge_weight)
        check_edge_index("ARMAConv", edge_index)
        if edge_weight is not None:
            check_edge_vector("ARMAConv", "edge_weight", edge_weight, edge_index)
        if self.flow == "target_to_source":
            edge_index = edge_index.flip(0)
        edge_index, edge_weight = gcn_norm(
            edge_index, edge_weight, x.size(-2), add_self_loops=False, dtype=x.dtype
        )
        x = x.unsqueeze(-3)  # [*, 1, N, F_in]: the stacks go in dim -3, as in PyG
        out = x
        for t in range(self.num_layers):
            layer = 0 if self.shared_weights else t
            if t == 0:
                out = out @ self.init_weight
            else:
                out = out @ self.weight[0 if self.shared_weights else t - 1]
            out = self._propagate(out, edge_index, edge_weight)
            root = torch.nn.functional.dropout(x, p=self.dropout, training=self.training)
            out = out + root @ self.root_weight[layer]
            if self.bias is not None:
                out = out + self.bias[layer]
            if self.act is not None:
                out = self.act(out)
        return out.mean(dim=-3)

    def _propagate(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        """Weighted sum over incoming edges of ``x [*, K, N, F]``."""
        if x.dim() > 3:
            messages = edge_weight.view(-1, 1) * x.index_select(-2, edge_index[0])
            return scatter(messages, edge_index[1], dim=-2, dim_size=x.size(-2))
        nodes_first = x.transpose(0, 1)  # [N, K, F]
        messages = self.message(gather(nodes_first, edge_index[0]), edge_weight)
        return scatter(messages, edge_index[1], dim_size=nodes_first.size(0)).transpose(0, 1)

    def message(self, x_j: Tensor, edge_weight: Tensor) -> Tensor:
        return edge_weight.view(-1, 1, 1) * x_j

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"num_stacks={self.num_stacks}, num_layers={self.num_layers})"
        )


def _glorot(value: Tensor) -> None:
    """PyG's ``glorot``: uniform in +-sqrt(6 / (fan_in + fan_out)) over the last two dims."""
    bound = (6.0 / (value.size(-2) + value.size(-1))) ** 0.5
    with torch.no_grad():
        value.uniform_(-bound, bound)
