"""Parity with torch_geometric 2.8 (weights copied with load_state_dict) and ONNX round trips
for the general-graph layers: GCNConv, GraphConv, SAGEConv, ARMAConv, GATConv."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch_geometric.nn as pyg_nn
from _nn_graphs import Graph, corner_cases, random_batch
from _nn_onnx import assert_exact_on_any_threads, export_model

import e2e_gnn.nn as ours_nn


@dataclass
class Layer:
    name: str
    cls: str
    kwargs: dict[str, Any]
    edge_input: str | None = None  # "edge_weight" [E] or "edge_attr" [E, 3]

    def build(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        torch.manual_seed(0)
        theirs = getattr(pyg_nn, self.cls)(4, 6, **self.kwargs)
        ours = getattr(ours_nn, self.cls)(4, 6, **self.kwargs)
        ours.load_state_dict(theirs.state_dict())
        with torch.no_grad():  # biases start at 0 in PyG: give them values
            for p in ours.parameters():
                p.add_(torch.rand(p.shape) * 0.1)
        theirs.load_state_dict(ours.state_dict())
        return ours.eval(), theirs.eval()

    def inputs(self, graph: Graph) -> dict[str, torch.Tensor]:
        args = {"x": graph.x, "edge_index": graph.edge_index}
        gen = torch.Generator().manual_seed(graph.edge_index.size(1))
        e = graph.edge_index.size(1)
        if self.edge_input == "edge_weight":
            args["edge_weight"] = torch.rand(e, generator=gen) + 0.5
        elif self.edge_input == "edge_attr":
            args["edge_attr"] = torch.randn(e, 3, generator=gen)
        return args


LAYERS = [
    Layer("gcn", "GCNConv", {}),
    Layer("gcn_weighted", "GCNConv", {}, "edge_weight"),
    Layer("gcn_improved_weighted", "GCNConv", {"improved": True}, "edge_weight"),
    Layer("gcn_improved", "GCNConv", {"improved": True}),
    Layer("gcn_unnormalised", "GCNConv", {"normalize": False}, "edge_weight"),
    Layer("graph_add", "GraphConv", {}, "edge_weight"),
    Layer("graph_mean", "GraphConv", {"aggr": "mean"}),
    Layer("graph_max", "GraphConv", {"aggr": "max"}, "edge_weight"),
    Layer("sage_mean", "SAGEConv", {}),
    Layer("sage_max", "SAGEConv", {"aggr": "max"}),
    Layer("sage_project_normalize", "SAGEConv", {"project": True, "normalize": True}),
    Layer("sage_no_root", "SAGEConv", {"root_weight": False, "aggr": "add"}),
    Layer("arma", "ARMAConv", {}),
    Layer("arma_3x2", "ARMAConv", {"num_stacks": 3, "num_layers": 2}, "edge_weight"),
    Layer("arma_shared", "ARMAConv", {"num_stacks": 3, "num_layers": 3, "shared_weights": True}),
    Layer("gat", "GATConv", {}),
    Layer("gat_heads", "GATConv", {"heads": 3}),
    Layer("gat_mean_heads", "GATConv", {"heads": 2, "concat": False, "residual": True}),
    Layer("gat_no_loops", "GATConv", {"heads": 2, "add_self_loops": False}),
    Layer("gat_edge_mean", "GATConv", {"heads": 2, "edge_dim": 3}, "edge_attr"),
    Layer("gat_edge_add", "GATConv", {"edge_dim": 3, "fill_value": "add"}, "edge_attr"),
    Layer("gat_edge_value", "GATConv", {"edge_dim": 3, "fill_value": 0.5}, "edge_attr"),
    Layer("gat_edge_max", "GATConv", {"edge_dim": 3, "fill_value": "max"}, "edge_attr"),
    Layer("gatv2_edge_min", "GATv2Conv", {"edge_dim": 3, "fill_value": "min"}, "edge_attr"),
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


ONNX_LAYERS = [layer for layer in LAYERS if layer.name in {
    "gcn_weighted", "graph_max", "sage_mean", "sage_max", "arma_3x2", "gat_heads",
    "gat_edge_mean", "gat_edge_max",
}]  # fmt: skip


@pytest.mark.parametrize("layer", ONNX_LAYERS, ids=lambda layer: layer.name)
def test_onnx_is_exact_on_any_threads(layer: Layer) -> None:
    ours, _ = layer.build()
    example = layer.inputs(random_batch([5, 4], 3.0, 4, seed=0))
    dynamic: dict[str, dict[int, str]] = {"x": {0: "N"}, "edge_index": {1: "E"}}
    if layer.edge_input:
        dynamic[layer.edge_input] = {0: "E"}
    model = export_model(ours, example, dynamic)
    large = random_batch([300, 500], 16.0, 4, seed=1, name="large")
    inputs = [layer.inputs(graph) for graph in [*GRAPHS, large]]
    assert_exact_on_any_threads(model, ours, inputs)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: ours_nn.GCNConv(4, 6, add_self_loops=True, normalize=False), "GraphConv"),
        (lambda: ours_nn.SAGEConv(-1, 6, aggr="lstm"), "'lstm'"),
        (lambda: ours_nn.GraphConv(4, 6, aggr=["sum", "max"]), "one aggregation"),
        (lambda: ours_nn.GATConv(4, 6, fill_value="median"), "'median'"),
        (lambda: ours_nn.ARMAConv(0, 6), "positive or -1"),
    ],
)
def test_rejects_bad_configuration(build: Callable[[], torch.nn.Module], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


def test_rejects_bad_inputs() -> None:
    conv = ours_nn.GCNConv(4, 6)
    with pytest.raises(ValueError, match="in_channels=4"):
        conv(torch.zeros(3, 5), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"one row per edge \(E = 2\)"):
        conv(torch.zeros(3, 4), torch.zeros(2, 2, dtype=torch.long), torch.ones(3))


def test_reprs_match_pyg() -> None:
    for layer in LAYERS[::4]:
        ours, theirs = layer.build()
        assert repr(ours) == repr(theirs)
