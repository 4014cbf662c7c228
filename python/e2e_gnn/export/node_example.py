"""A tiny node-level model with graph features: the reference model of the node-output
path's tests (export, parity, Tagger backends, C++, Triton, ``infer``).

It lives in the package, not in a test directory, so that scripts outside pytest (the C++
test-model generator, Triton model directories) build and export it the same way as the
tests do.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn.conv import EdgeConv
from e2e_gnn.nn.pool import global_mean_pool
from e2e_gnn.spec import GraphSpec, ModelSpec, TensorSpec, node_output

__all__ = ["NODE_EXAMPLE_GRAPH_SPEC", "NodeExampleModel", "node_example_spec"]

NODE_EXAMPLE_GRAPH_SPEC = GraphSpec(
    feature_names=("deta", "dphi", "log_energy", "energy_fraction"),
    builder="knn",
    k=8,
    loop=False,
    coordinates=("deta", "dphi"),
    coordinate_scale=(1.0, 1.0),
    graph_feature_names=("jet_pt", "jet_eta", "rho"),
)


class NodeExampleModel(torch.nn.Module):
    """One EdgeConv block over the nodes, the graph features ``u`` of each node's graph
    appended to its hidden features, then two heads.

    .. math::
        h_i = \\mathrm{EdgeConv}(x)_i, \\quad
        \\mathrm{node}_i = W_n [h_i \\| u_{g(i)}], \\quad
        \\mathrm{total}_g = W_g [\\mathrm{mean}_{i \\in g} h_i \\| u_g]

    Args:
        in_features: node feature width F.
        graph_features: width F_u of ``u``.
        hidden: width of the EdgeConv block.

    Shapes:
        - **input:** x ``[N, F]``, edge_index ``[2, E]``, batch ``[N]``, u ``[G, F_u]``
        - **output:** per-node ``node_out`` ``[N, 2]``, per-graph ``graph_out`` ``[G, 1]``
    """

    spec_outputs: tuple[TensorSpec, ...] = (
        node_output("node_out", 2, "per-node regression outputs"),
        TensorSpec("graph_out", "float32", ("graphs", 1), "per-graph regression output"),
    )

    def __init__(self, in_features: int = 4, graph_features: int = 3, hidden: int = 8) -> None:
        super().__init__()
        self.hyperparameters: dict[str, Any] = {
            "in_features": in_features,
            "graph_features": graph_features,
            "hidden": hidden,
        }
        mlp = torch.nn.Sequential(
            torch.nn.Linear(2 * in_features, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
        )
        self.conv = EdgeConv(mlp, aggr="mean")
        self.node_head = torch.nn.Linear(hidden + graph_features, 2)
        self.graph_head = torch.nn.Linear(hidden + graph_features, 1)

    def forward(
        self, x: Tensor, edge_index: Tensor, batch: Tensor, u: Tensor
    ) -> tuple[Tensor, Tensor]:
        h = torch.relu(self.conv(x, edge_index))
        node = self.node_head(torch.cat([h, u.index_select(0, batch)], dim=-1))
        pooled = global_mean_pool(h, batch, u.size(0))
        return node, self.graph_head(torch.cat([pooled, u], dim=-1))


def node_example_spec(model: NodeExampleModel, name: str) -> ModelSpec:
    """The ModelSpec ``model`` is exported with, named ``name``."""
    return ModelSpec(
        name=name,
        model_class="NodeExampleModel",
        hyperparameters=model.hyperparameters,
        graph=NODE_EXAMPLE_GRAPH_SPEC,
    )
