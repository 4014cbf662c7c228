from __future__ import annotations

import pytest
import torch
import torch_geometric.nn as pyg_nn
from _nn_graphs import corner_cases, knn_batch, random_batch
from _nn_onnx import assert_exact_on_any_threads, export_model

from e2e_gnn.nn import EdgeConv, NeighborTable
from e2e_gnn.nn.scatter import incoming_chunks


def mlp() -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5))


@pytest.mark.parametrize("aggr", ["max", "mean", "add"])
@pytest.mark.parametrize("graph", corner_cases(4), ids=lambda g: g.name)
def test_edge_conv_matches_pyg(aggr: str, graph) -> None:
    torch.manual_seed(0)
    theirs = pyg_nn.EdgeConv(mlp(), aggr=aggr)
    ours = EdgeConv(mlp(), aggr=aggr)
    ours.load_state_dict(theirs.state_dict())
    out = ours(graph.x, graph.edge_index)
    assert out.shape == (graph.num_nodes, 5)
    torch.testing.assert_close(out, theirs(graph.x, graph.edge_index), atol=1e-5, rtol=0)


def test_edge_conv_repr_and_errors() -> None:
    conv = EdgeConv(torch.nn.Linear(4, 3))
    assert repr(conv) == "EdgeConv(nn=Linear(in_features=4, out_features=3, bias=True))"
    with pytest.raises(ValueError, match="'median'"):
        EdgeConv(torch.nn.Linear(4, 3), aggr="median")
    with pytest.raises(ValueError, match=r"\[2, E\]"):
        conv(torch.zeros(3, 2), torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="int64"):
        conv(torch.zeros(3, 2), torch.zeros(2, 4, dtype=torch.int32))


@pytest.mark.parametrize("aggr", ["max", "mean", "add"])
def test_edge_conv_onnx_round_trip(aggr: str) -> None:
    torch.manual_seed(1)
    module = EdgeConv(mlp(), aggr=aggr)
    example = random_batch([6, 4], 3.0, 4, seed=0)
    model = export_model(
        module,
        {"x": example.x, "edge_index": example.edge_index},
        {"x": {0: "N"}, "edge_index": {1: "E"}},
    )
    cases = [
        *corner_cases(4, seed=9),
        random_batch([400, 300], 16.0, 4, seed=2, name="large"),
        random_batch([3, 2], 60.0, 4, seed=7, name="hubs"),  # > 32 edges per node: 2+ rows
    ]
    inputs = [{"x": graph.x, "edge_index": graph.edge_index} for graph in cases]
    assert_exact_on_any_threads(model, module, inputs)


class _NotSplittable(torch.nn.Module):
    """An nn that does not start with a Linear: EdgeConv must compute messages per edge."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 5)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.lin(torch.tanh(h))


@pytest.mark.parametrize("graph", corner_cases(4)[-4:], ids=lambda g: g.name)
def test_edge_conv_without_split_matches_pyg(graph) -> None:
    theirs = pyg_nn.EdgeConv(_NotSplittable(), aggr="mean")
    ours = EdgeConv(_NotSplittable(), aggr="mean")
    ours.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(
        ours(graph.x, graph.edge_index), theirs(graph.x, graph.edge_index), atol=1e-5, rtol=0
    )


KNN_CASES = [
    knn_batch([20, 3, 1, 9], 8, 4, seed=1),  # graphs of 3 and 1 nodes have < k neighbours
    knn_batch([12, 2], 8, 4, seed=2, loop=True),
    knn_batch([1], 8, 4, seed=3),  # E = 0
    knn_batch([40] * 5, 16, 4, seed=4),
]


@pytest.mark.parametrize("aggr", ["max", "mean", "add"])
@pytest.mark.parametrize("graph", KNN_CASES, ids=lambda g: g.name)
def test_fixed_degree_matches_pyg(aggr: str, graph) -> None:
    torch.manual_seed(2)
    theirs = pyg_nn.EdgeConv(mlp(), aggr=aggr)
    ours = EdgeConv(mlp(), aggr=aggr, fixed_degree=17)  # k + 1 covers the self-loop case
    ours.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(
        ours(graph.x, graph.edge_index), theirs(graph.x, graph.edge_index), atol=1e-5, rtol=0
    )


def test_fixed_degree_rejects_unsorted_or_too_many_edges() -> None:
    conv = EdgeConv(mlp(), fixed_degree=2)
    x = torch.randn(3, 4)
    with pytest.raises(ValueError, match="grouped by target"):
        conv(x, torch.tensor([[0, 1], [2, 1]]))
    with pytest.raises(ValueError, match="3 incoming edges"):
        conv(x, torch.tensor([[0, 1, 2], [1, 1, 1]]))


@pytest.mark.parametrize("aggr", ["max", "mean"])
def test_fixed_degree_onnx_has_no_scatter_reduction_and_is_exact_on_any_threads(aggr: str) -> None:
    torch.manual_seed(3)
    module = EdgeConv(mlp(), aggr=aggr, fixed_degree=17)
    example = knn_batch([6, 5], 8, 4, seed=5)
    model = export_model(
        module,
        {"x": example.x, "edge_index": example.edge_index},
        {"x": {0: "N"}, "edge_index": {1: "E"}},
    )
    # only the degree bounds are scattered (without reduction), never [E, F] values
    scatters = [n for n in model.graph.node if n.op_type.startswith("Scatter")]
    assert len(scatters) == 2 and {n.op_type for n in scatters} == {"ScatterND"}
    cases = [*KNN_CASES, knn_batch([300, 200, 4], 8, 4, seed=6, name="large")]
    inputs = [{"x": graph.x, "edge_index": graph.edge_index} for graph in cases]
    assert_exact_on_any_threads(model, module, inputs)


def test_neighbor_table_reduce_rejects_unknown_reduction() -> None:
    table = NeighborTable(torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="'median'"):
        table.reduce(torch.zeros(2, 3, 4), "median")


def test_split_with_batch_norm_matches_pyg_in_training() -> None:
    """Modules after the split Linear see the same rows as in PyG, so BatchNorm statistics
    (and the running averages it updates) agree in training mode too."""

    def net() -> torch.nn.Sequential:
        return torch.nn.Sequential(
            torch.nn.Linear(8, 16),
            torch.nn.BatchNorm1d(16),
            torch.nn.ReLU(),
            torch.nn.Linear(16, 5),
        )

    graph = random_batch([30, 20], 4.0, 4, seed=7)
    torch.manual_seed(4)
    theirs = pyg_nn.EdgeConv(net(), aggr="mean").train()
    ours = EdgeConv(net(), aggr="mean").train()
    ours.load_state_dict(theirs.state_dict())
    out, ref = ours(graph.x, graph.edge_index), theirs(graph.x, graph.edge_index)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.nn[1].running_var, theirs.nn[1].running_var, atol=1e-6, rtol=0)
    out.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(ours.nn[0].weight.grad, theirs.nn[0].weight.grad, atol=1e-4, rtol=0)


def test_incoming_chunks_cover_every_edge_once() -> None:
    gen = torch.Generator().manual_seed(4)
    target = torch.randint(0, 6, (150,), generator=gen)
    edges, valid, rows = incoming_chunks(target, 6, 8)
    assert edges.shape == valid.shape and edges.size(1) == 8
    assert torch.equal(torch.sort(edges[valid]).values, torch.arange(150))
    assert torch.equal(target[edges[valid]], rows.view(-1, 1).expand_as(edges)[valid])
    assert torch.equal(rows, torch.sort(rows).values)
    assert torch.equal(valid.sum(1) > 0, torch.ones_like(rows, dtype=torch.bool))
