r"""The constituent-calibration GNN (ATLAS, seed 001): a correction factor per jet
constituent and a rapidity correction per jet, trained on jet-level targets.

The model reads the constituents' features ``x`` [N, F], the Delaunay edges of each jet
and the jet/event features ``u`` [G, F_u]. Each node starts from its standardised features
next to its jet's standardised ``u``; EdgeConv blocks (mean aggregation, residual) pass
messages along the triangulation; a per-node head gives the energy correction factor

.. math::
    c_i = c_{\min} + (c_{\max} - c_{\min})\,\sigma(z_i),

bounded to :math:`(c_{\min}, c_{\max})` (the study's minimum: 0.5), and a per-graph head on
the mean and max of the node states and ``u`` gives the rapidity correction
:math:`\Delta y` added to the rapidity of the sum of corrected constituents. Every
aggregation is a ``scatter`` (exact in ONNX Runtime, see :mod:`e2e_gnn.nn.scatter`).
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_sizes
from e2e_gnn.nn.conv import EdgeConv
from e2e_gnn.nn.pool import global_max_pool, global_mean_pool
from e2e_gnn.spec import TensorSpec, node_output

__all__ = ["CalibrationGNN"]


def _mlp(*widths: int) -> torch.nn.Sequential:
    """Linear + ReLU layers, the last one linear."""
    layers: list[torch.nn.Module] = []
    for width_in, width_out in pairwise(widths):
        layers += [torch.nn.Linear(width_in, width_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


class CalibrationGNN(torch.nn.Module):
    r"""Per-constituent energy correction factors and a per-jet rapidity correction.

    Inputs are standardised inside the model (buffers set by :meth:`set_scaling` from
    training data), so a deployment feeds raw features. The factor head starts at
    :math:`c_i = 1` (no correction) for every constituent.

    Args:
        in_features: node feature width F.
        graph_features: graph feature width F_u (``u``).
        hidden: width of the node states, the EdgeConv blocks and the heads.
        num_layers: EdgeConv blocks.
        min_factor: lower bound :math:`c_{\min}` of the correction factor (> 0).
        max_factor: upper bound :math:`c_{\max}` (> ``min_factor``; 1 must lie between).

    Shapes:
        - **input:** x ``[N, F]``, edge_index ``[2, E]``, batch ``[N]``, u ``[G, F_u]``
        - **output:** energy_factor ``[N, 1]``, rapidity_shift ``[G, 1]``
    """

    spec_outputs: tuple[TensorSpec, ...] = (
        node_output(
            "energy_factor",
            1,
            "per-constituent energy correction factor: calibrated jet energy = "
            "sum over constituents of factor * energy",
        ),
        TensorSpec(
            "rapidity_shift",
            "float32",
            ("graphs", 1),
            "per-jet rapidity correction, added to the rapidity of the corrected constituents",
        ),
    )

    def __init__(
        self,
        in_features: int,
        graph_features: int,
        hidden: int = 64,
        num_layers: int = 3,
        min_factor: float = 0.5,
        max_factor: float = 3.0,
    ) -> None:
        super().__init__()
        check_sizes("CalibrationGNN", in_features=in_features, hidden=hidden, num_layers=num_layers)
        if not (0 < min_factor < 1 < max_factor < math.inf):
            msg = (
                f"CalibrationGNN needs 0 < min_factor < 1 < max_factor, got min_factor="
                f"{min_factor!r}, max_factor={max_factor!r}"
            )
            raise ValueError(msg)
        self.hyperparameters: dict[str, Any] = {
            "in_features": in_features,
            "graph_features": graph_features,
            "hidden": hidden,
            "num_layers": num_layers,
            "min_factor": min_factor,
            "max_factor": max_factor,
        }
        self.min_factor, self.max_factor = float(min_factor), float(max_factor)
        self.register_buffer("feature_mean", torch.zeros(in_features))
        self.register_buffer("feature_std", torch.ones(in_features))
        self.register_buffer("graph_mean", torch.zeros(graph_features))
        self.register_buffer("graph_std", torch.ones(graph_features))
        self.encode = torch.nn.Sequential(
            torch.nn.Linear(in_features + graph_features, hidden), torch.nn.ReLU()
        )
        self.convs = torch.nn.ModuleList(
            EdgeConv(_mlp(2 * hidden, hidden, hidden), aggr="mean") for _ in range(num_layers)
        )
        self.factor_head = _mlp(3 * hidden, hidden, 1)
        self.rapidity_head = _mlp(2 * hidden + graph_features, hidden, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fresh weights; the factor head's last layer set so that every factor starts at 1
        and the rapidity head's so that every shift starts at 0."""
        for module in self.modules():
            if isinstance(module, torch.nn.Linear):
                module.reset_parameters()
        last, shift = self.factor_head[-1], self.rapidity_head[-1]
        assert isinstance(last, torch.nn.Linear) and isinstance(shift, torch.nn.Linear)
        start = (1.0 - self.min_factor) / (self.max_factor - self.min_factor)
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.constant_(last.bias, math.log(start / (1.0 - start)))
        torch.nn.init.zeros_(shift.weight)
        torch.nn.init.zeros_(shift.bias)

    @torch.no_grad()
    def set_scaling(self, x: Tensor, u: Tensor) -> None:
        """Standardise node features with the mean and spread of ``x`` [N, F] and graph
        features with those of ``u`` [G, F_u]."""
        self.feature_mean.copy_(x.mean(dim=0))
        self.feature_std.copy_(x.std(dim=0).nan_to_num(1.0).clamp(min=1e-6))
        self.graph_mean.copy_(u.mean(dim=0))
        self.graph_std.copy_(u.std(dim=0).nan_to_num(1.0).clamp(min=1e-6))

    def forward(
        self, x: Tensor, edge_index: Tensor, batch: Tensor, u: Tensor
    ) -> tuple[Tensor, Tensor]:
        u = (u - self.graph_mean) / self.graph_std
        x = (x - self.feature_mean) / self.feature_std
        h = self.encode(torch.cat([x, u[batch]], dim=-1))
        for conv in self.convs:
            h = h + torch.relu(conv(h, edge_index))
        pooled = torch.cat([global_mean_pool(h, batch), global_max_pool(h, batch)], dim=-1)
        factor = self.min_factor + (self.max_factor - self.min_factor) * torch.sigmoid(
            self.factor_head(torch.cat([h, pooled[batch]], dim=-1))
        )
        return factor, self.rapidity_head(torch.cat([pooled, u], dim=-1))

    def __repr__(self) -> str:
        hp = self.hyperparameters
        return (
            f"{type(self).__name__}({hp['in_features']}, {hp['graph_features']}, "
            f"hidden={hp['hidden']}, num_layers={hp['num_layers']}, "
            f"factor=({hp['min_factor']}, {hp['max_factor']}))"
        )
