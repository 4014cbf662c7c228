from __future__ import annotations

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_x
from e2e_gnn.nn.knn import knn_table


class GravNetConv(torch.nn.Module):
    r"""The GravNet operator from the `"Learning Representations of Irregular Particle-detector
    Geometry with Distance-weighted Graph Networks" <https://arxiv.org/abs/1902.07987>`_
    paper, as ``torch_geometric.nn.GravNetConv``.

    Nodes are projected into a learned space :math:`\mathbf{s}_i = \mathbf{W}_s
    \mathbf{x}_i + \mathbf{b}_s` and features :math:`\mathbf{h}_i = \mathbf{W}_h
    \mathbf{x}_i + \mathbf{b}_h`; each node aggregates its k nearest neighbours (itself
    included) in that space, weighted by distance:

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2 \left[
        \frac{1}{|\mathcal{N}(i)|} \sum_{j \in \mathcal{N}(i)} w_{j,i} \mathbf{h}_j
        \, \Vert \, \max_{j \in \mathcal{N}(i)} w_{j,i} \mathbf{h}_j \right] + \mathbf{b},
        \qquad w_{j,i} = \exp(-10 \, \| \mathbf{s}_j - \mathbf{s}_i \|^2)

    The kNN search runs inside the model (:func:`e2e_gnn.nn.knn.knn_table`) so the layer
    exports to ONNX (PyG's needs pyg-lib and does not). Parameters are named as in
    torch_geometric (``lin_s``, ``lin_h``, ``lin_out1``, ``lin_out2``).

    Args:
        in_channels (int): input features per node.
        out_channels (int): output features per node.
        space_dimensions (int): dimensions of the learned space.
        propagate_dimensions (int): width of the propagated features h.
        k (int): number of nearest neighbours (self included).
        num_workers (int, optional): accepted for PyG compatibility, unused.
            (default: ``None``)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, batch vector
          :math:`(|\mathcal{V}|)`, sorted *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        space_dimensions: int,
        propagate_dimensions: int,
        k: int,
        num_workers: int | None = None,
    ) -> None:
        super().__init__()
        if k < 1:
            msg = f"GravNetConv: `k` must be a positive int, got {k!r}"
            raise ValueError(msg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.k = k
        self.num_workers = num_workers
        self.lin_s = torch.nn.Linear(in_channels, space_dimensions)
        self.lin_h = torch.nn.Linear(in_channels, propagate_dimensions)
        self.lin_out1 = torch.nn.Linear(in_channels, out_channels, bias=False)
        self.lin_out2 = torch.nn.Linear(2 * propagate_dimensions, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.lin_s, self.lin_h, self.lin_out1, self.lin_out2):
            lin.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor | None = None) -> Tensor:
        check_x("GravNetConv", x, self.in_channels)
        h = self.lin_h(x)
        s = self.lin_s(x)
        table = knn_table(s, batch, self.k)
        # Weights from coordinate differences (not from the TopK distances, which come from
        # a matrix product and are less precise).
        distance = (table.gather(s) - s.unsqueeze(1)).pow(2).sum(-1)  # [N, k]
        messages = self.message(table.gather(h), torch.exp(-10.0 * distance))
        out = torch.cat([table.reduce(messages, "mean"), table.reduce(messages, "max")], -1)
        return self.lin_out1(x) + self.lin_out2(out)

    def message(self, x_j: Tensor, edge_weight: Tensor) -> Tensor:
        return x_j * edge_weight.unsqueeze(-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, k={self.k})"
