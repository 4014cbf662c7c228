"""GINConv, GINEConv, PointNetConv, GATv2Conv, TransformerConv: parity with torch_geometric
2.8 (weights via load_state_dict, 1e-5) and exact ONNX round trips (E = 0, one node, large
graphs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch_geometric.nn as pyg_nn
from _nn_graphs import Graph, corner_cases, random_batch
from _nn_onnx import assert_exact_on_any_threads, export_model

import e2e_gnn.nn as ours_nn


def mlp(a: int, b: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(a, 8), torch.nn.ReLU(), torch.nn.Linear(8, b))


@dataclass
class Layer:
    name: str
    cls: str
    make_args: Callable[[], tuple]
    kwargs: dict[str, Any] = field(default_factory=dict)
    edge_attr: int = 0  # width of edge features (0: none)
    pos: bool = False

    def build(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        torch.manual_seed(0)
        theirs = getattr(pyg_nn, self.cls)(*self.make_args(), **self.kwargs)
        ours = getattr(ours_nn, self.cls)(*self.make_args(), **self.kwargs)
        ours.load_state_dict(theirs.state_dict())
        with torch.no_grad():  # biases and eps start at 0 in PyG: give them values
            for p in ours.parameters():
                p.add_(torch.rand(p.shape) * 0.1)
        theirs.load_state_dict(ours.state_dict())
        return ours.eval(), theirs.eval()

    def inputs(self, graph: Graph) -> dict[str, torch.Tensor]:
        args = {"x": graph.x, "edge_index": graph.edge_index}
        gen = torch.Generator().manual_seed(graph.edge_index.size(1) + 7)
        if self.pos:
            args["pos"] = torch.randn(graph.num_nodes, 3, generator=gen)
        if self.edge_attr:
            args["edge_attr"] = torch.randn(graph.edge_index.size(1), self.edge_attr, generator=gen)
        return args


LAYERS = [
    Layer("gin", "GINConv", lambda: (mlp(4, 6),)),
    Layer("gin_train_eps", "GINConv", lambda: (mlp(4, 6),), {"eps": 0.3, "train_eps": True}),
    Layer("gin_mean", "GINConv", lambda: (mlp(4, 6),), {"aggr": "mean"}),
    Layer("gine_edge_dim", "GINEConv", lambda: (mlp(4, 6),), {"edge_dim": 3}, edge_attr=3),
    Layer("gine", "GINEConv", lambda: (mlp(4, 6),), {"train_eps": True}, edge_attr=4),
    Layer("pointnet", "PointNetConv", lambda: (mlp(7, 6), mlp(6, 5)), pos=True),
    Layer("pointnet_mean", "PointNetConv", lambda: (mlp(7, 6),), {"aggr": "mean"}, pos=True),
    Layer(
        "pointnet_no_loops",
        "PointNetConv",
        lambda: (mlp(7, 6),),
        {"add_self_loops": False},
        pos=True,
    ),
    Layer("gatv2", "GATv2Conv", lambda: (4, 6), {"heads": 2}),
    Layer("gatv2_edge", "GATv2Conv", lambda: (4, 6), {"heads": 2, "edge_dim": 3}, edge_attr=3),
    Layer(
        "gatv2_edge_add",
        "GATv2Conv",
        lambda: (4, 6),
        {"edge_dim": 3, "fill_value": "add", "concat": False, "residual": True},
        edge_attr=3,
    ),
    Layer(
        "gatv2_shared_no_loops",
        "GATv2Conv",
        lambda: (4, 6),
        {"share_weights": True, "add_self_loops": False},
    ),
    Layer("transformer", "TransformerConv", lambda: (4, 6), {"heads": 2}),
    Layer(
        "transformer_edge",
        "TransformerConv",
        lambda: (4, 6),
        {"heads": 2, "edge_dim": 3},
        edge_attr=3,
    ),
    Layer(
        "transformer_beta_mean",
        "TransformerConv",
        lambda: (4, 6),
        {"heads": 3, "concat": False, "beta": True, "edge_dim": 3},
        edge_attr=3,
    ),
    Layer("transformer_no_root", "TransformerConv", lambda: (4, 6), {"root_weight": False}),
]

GRAPHS = corner_cases(4)


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_matches_pyg(layer: Layer) -> None:
    ours, theirs = layer.build()
    for graph in GRAPHS:
        args = layer.inputs(graph)
        out = ours(**args)
        assert out.shape[0] == graph.num_nodes, graph.name
        torch.testing.assert_close(out, theirs(**args), atol=1e-5, rtol=0, msg=graph.name)
    assert repr(ours) == repr(theirs)


ONNX_LAYERS = [
    layer
    for layer in LAYERS
    if layer.name
    in {"gin_train_eps", "gine_edge_dim", "pointnet_mean", "gatv2_edge", "transformer_beta_mean"}
]


@pytest.mark.parametrize("layer", ONNX_LAYERS, ids=lambda layer: layer.name)
def test_onnx_is_exact_on_any_threads(layer: Layer) -> None:
    ours, _ = layer.build()
    example = layer.inputs(random_batch([5, 4], 3.0, 4, seed=0))
    dynamic: dict[str, dict[int, str]] = {"x": {0: "N"}, "edge_index": {1: "E"}}
    if layer.pos:
        dynamic["pos"] = {0: "N"}
    if layer.edge_attr:
        dynamic["edge_attr"] = {0: "E"}
    model = export_model(ours, example, dynamic)
    large = random_batch([300, 500], 16.0, 4, seed=1, name="large")
    assert_exact_on_any_threads(model, ours, [layer.inputs(g) for g in [*GRAPHS, large]])


@pytest.mark.parametrize("cls", ["GATv2Conv", "TransformerConv"])
def test_attention_weights_and_bipartite_match_pyg(cls: str) -> None:
    layer = Layer(cls, cls, lambda: (4, 6), {"heads": 2})
    ours, theirs = layer.build()
    for graph in GRAPHS:
        out, (edges, alpha) = ours(graph.x, graph.edge_index, return_attention_weights=True)
        ref, (ref_edges, ref_alpha) = theirs(
            graph.x, graph.edge_index, return_attention_weights=True
        )
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
        assert torch.equal(edges, ref_edges), graph.name
        torch.testing.assert_close(alpha, ref_alpha, atol=1e-6, rtol=0)
    gen = torch.Generator().manual_seed(5)
    x = (torch.randn(7, 4, generator=gen), torch.randn(5, 4, generator=gen))
    edge_index = torch.stack([torch.randint(0, 7, (16,), generator=gen), torch.arange(16) % 4])
    torch.testing.assert_close(ours(x, edge_index), theirs(x, edge_index), atol=1e-5, rtol=0)
