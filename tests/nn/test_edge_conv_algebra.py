"""Exact algebraic rewrites (issue 16): an affine end of an EdgeConv MLP applied after a
mean/add aggregation, the Linear of SAGE/GraphConv/GCN on the narrower side of the
aggregation, and the tagger's plain-last convention with old checkpoints still loading."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch_geometric.nn as pyg_nn
from _nn_graphs import Graph, corner_cases, knn_batch, random_batch
from _nn_onnx import assert_exact_on_any_threads, export_model

import e2e_gnn.nn.conv.gcn_conv as gcn_module
from e2e_gnn.nn import DynamicEdgeConv, EdgeConv, GCNConv, GraphConv, SAGEConv
from e2e_gnn.nn.conv.edge_conv import affine_tail
from e2e_gnn.nn.models import EdgeConvTagger, build_model
from e2e_gnn.spec import GraphSpec
from e2e_gnn.train.checkpoint import load_checkpoint, save_checkpoint

Lin, ReLU = torch.nn.Linear, torch.nn.ReLU


def plain_last() -> torch.nn.Sequential:
    return torch.nn.Sequential(Lin(8, 16), ReLU(), Lin(16, 5))


def with_batch_norm() -> torch.nn.Sequential:
    net = torch.nn.Sequential(Lin(8, 16), ReLU(), Lin(16, 5), torch.nn.BatchNorm1d(5))
    with torch.no_grad():  # running statistics other than the identity
        net[3].running_mean.uniform_(-1, 1)
        net[3].running_var.uniform_(0.5, 2)
        net[3].weight.uniform_(-2, 2)
        net[3].bias.uniform_(-1, 1)
    return net


def rows_seen_by_last(conv: torch.nn.Module, graph: Graph) -> set[int]:
    """The row counts the last module of ``conv.nn`` is applied to in one forward pass."""
    rows: set[int] = set()
    handle = conv.nn[-1].register_forward_pre_hook(lambda _, args: rows.add(args[0].size(0)))
    conv(graph.x, graph.edge_index)
    handle.remove()
    return rows


NETS: dict[str, tuple[Callable[[], torch.nn.Module], str, int]] = {
    # name: (nn, mode, modules moved after a mean/add aggregation)
    "linear_last": (plain_last, "eval", 1),
    "linear_last_training": (plain_last, "train", 1),  # a Linear commutes in training too
    "batch_norm_eval": (with_batch_norm, "eval", 2),
    "batch_norm_training": (with_batch_norm, "train", 0),
    "dropout_eval": (lambda: torch.nn.Sequential(*plain_last(), torch.nn.Dropout(0.5)), "eval", 2),
    "dropout_training": (
        lambda: torch.nn.Sequential(*plain_last(), torch.nn.Dropout(0.5)),
        "train",
        0,
    ),
    "relu_last": (lambda: torch.nn.Sequential(*plain_last(), ReLU()), "eval", 0),
    "batch_norm_batch_statistics": (
        lambda: torch.nn.Sequential(
            *plain_last(), torch.nn.BatchNorm1d(5, track_running_stats=False)
        ),
        "eval",
        0,
    ),
    "two_linears": (lambda: torch.nn.Sequential(Lin(8, 16), Lin(16, 5)), "eval", 1),
    "one_linear": (lambda: Lin(8, 5), "eval", 0),  # split per node, nothing per edge to move
}


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("aggr", ["mean", "add", "sum", "max"])
def test_rewrite_applies_exactly_when_the_end_is_affine(name: str, aggr: str) -> None:
    make, mode, moved = NETS[name]
    conv = EdgeConv(make(), aggr=aggr).train(mode == "train")
    graph = random_batch([9, 7], 3.0, 4, seed=1)
    expected = 0 if aggr == "max" else moved
    assert len(affine_tail(conv.nn, aggr, 4)) == expected
    if isinstance(conv.nn, torch.nn.Sequential):
        # moved: the last module runs on the nodes (and one zero row), else on the edges
        seen = {graph.num_nodes, 1} if expected else {graph.edge_index.size(1)}
        assert rows_seen_by_last(conv, graph) == seen


@pytest.mark.parametrize("name", ["linear_last", "batch_norm_eval", "batch_norm_training"])
@pytest.mark.parametrize("aggr", ["mean", "add"])
@pytest.mark.parametrize("graph", corner_cases(4), ids=lambda g: g.name)
def test_rewritten_edge_conv_matches_pyg(name: str, aggr: str, graph: Graph) -> None:
    make, mode, _ = NETS[name]
    torch.manual_seed(0)
    theirs = pyg_nn.EdgeConv(make(), aggr=aggr).train(mode == "train")
    ours = EdgeConv(make(), aggr=aggr).train(mode == "train")
    ours.load_state_dict(theirs.state_dict())
    if mode == "train" and graph.edge_index.size(1) < 2:
        pytest.skip("BatchNorm in training mode needs more than one message")
    out = ours(graph.x, graph.edge_index)
    torch.testing.assert_close(out, theirs(graph.x, graph.edge_index), atol=1e-5, rtol=0)


LONELY = ("no_edges", "single_node", "isolated_nodes")


@pytest.mark.parametrize("aggr", ["mean", "add"])
@pytest.mark.parametrize(
    "graph", [g for g in corner_cases(4) if g.name in LONELY], ids=lambda g: g.name
)
@pytest.mark.parametrize("fixed_degree", [None, 3])
def test_nodes_without_neighbours_stay_zero(aggr: str, graph: Graph, fixed_degree) -> None:
    conv = EdgeConv(with_batch_norm(), aggr=aggr, fixed_degree=fixed_degree).eval()
    with torch.no_grad():
        conv.nn[2].bias.fill_(3.0)  # a constant term that must not leak to those nodes
    edge_index = graph.edge_index[:, graph.edge_index[1].argsort(stable=True)]
    out = conv(graph.x, edge_index)
    lonely = torch.ones(graph.num_nodes, dtype=torch.bool)
    lonely[graph.edge_index[1]] = False
    assert lonely.any()
    assert torch.equal(out[lonely], torch.zeros_like(out[lonely]))
    assert (out[~lonely] != 0).all()


KNN_CASES = [
    knn_batch([20, 3, 1, 9], 8, 4, seed=1),
    knn_batch([12, 2], 8, 4, seed=2, loop=True),
    knn_batch([1], 8, 4, seed=3),  # E = 0
]


@pytest.mark.parametrize("aggr", ["mean", "add"])
@pytest.mark.parametrize("graph", KNN_CASES, ids=lambda g: g.name)
def test_rewritten_fixed_degree_and_dynamic_edge_conv_match_pyg(aggr: str, graph: Graph) -> None:
    torch.manual_seed(2)
    theirs = pyg_nn.EdgeConv(with_batch_norm(), aggr=aggr).eval()
    ours = EdgeConv(with_batch_norm(), aggr=aggr, fixed_degree=9).eval()
    ours.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(
        ours(graph.x, graph.edge_index), theirs(graph.x, graph.edge_index), atol=1e-5, rtol=0
    )
    dynamic = DynamicEdgeConv(with_batch_norm(), k=4, aggr=aggr).eval()
    dynamic.load_state_dict(theirs.state_dict())
    reference = pyg_nn.EdgeConv(with_batch_norm(), aggr=aggr).eval()
    reference.load_state_dict(theirs.state_dict())
    # DynamicEdgeConv's graph: the 4 nearest nodes of the same graph in feature space, itself
    # included (PyG's DynamicEdgeConv needs pyg-lib's knn, so its graph is built here).
    edges = []
    for g in graph.batch.unique():
        nodes = (graph.batch == g).nonzero().view(-1)
        k = min(4, nodes.numel())
        near = torch.cdist(graph.x[nodes], graph.x[nodes]).topk(k, largest=False).indices
        edges.append(torch.stack([nodes[near].reshape(-1), nodes.repeat_interleave(k)]))
    knn = torch.cat(edges, dim=1)
    torch.testing.assert_close(
        dynamic(graph.x, graph.batch), reference(graph.x, knn), atol=1e-5, rtol=0
    )


ONNX_CASES = [
    *corner_cases(4, seed=9)[:3],  # E = 0 with 5 nodes, one node, one node with a self loop
    random_batch([40, 30], 6.0, 4, seed=2, name="random"),
]


@pytest.mark.parametrize(("aggr", "fixed_degree"), [("mean", None), ("add", 9)])
def test_rewritten_edge_conv_onnx_round_trip(aggr: str, fixed_degree) -> None:
    torch.manual_seed(1)
    module = EdgeConv(with_batch_norm(), aggr=aggr, fixed_degree=fixed_degree).eval()
    example = knn_batch([6, 4], 8, 4, seed=0)
    model = export_model(
        module,
        {"x": example.x, "edge_index": example.edge_index},
        {"x": {0: "N"}, "edge_index": {1: "E"}},
    )
    cases = ONNX_CASES if fixed_degree is None else [*KNN_CASES, knn_batch([30, 20], 8, 4, 6)]
    inputs = [{"x": graph.x, "edge_index": graph.edge_index} for graph in cases]
    assert_exact_on_any_threads(model, module, inputs, runs=1)


def test_plain_last_tagger_onnx_round_trip() -> None:
    torch.manual_seed(1)
    module = EdgeConvTagger(4, hidden=8, num_layers=1, plain_last=True).eval()
    example = knn_batch([6, 5], 8, 4, seed=5)
    args = {"x": example.x, "edge_index": example.edge_index, "batch": example.batch}
    model = export_model(module, args, {"x": {0: "N"}, "edge_index": {1: "E"}, "batch": {0: "N"}})
    cases = [*KNN_CASES, knn_batch([30, 20], 8, 4, seed=6)]
    inputs = [{"x": g.x, "edge_index": g.edge_index, "batch": g.batch} for g in cases]
    assert_exact_on_any_threads(model, module, inputs, runs=1)


def test_tagger_conventions_share_parameters_and_old_checkpoints_load(tmp_path) -> None:
    torch.manual_seed(3)
    new = EdgeConvTagger(4, hidden=8, num_layers=2)
    old = EdgeConvTagger(4, hidden=8, num_layers=2, plain_last=False)
    assert new.hyperparameters["plain_last"] is True
    assert list(new.state_dict()) == list(old.state_dict())
    old.load_state_dict(new.state_dict())
    graph = knn_batch([10, 6], 4, 4, seed=4)
    inputs = (graph.x, graph.edge_index, graph.batch)
    assert not torch.allclose(old(*inputs), new(*inputs))  # the conventions differ
    # a checkpoint written before plain_last existed has no such hyperparameter
    legacy = {k: v for k, v in old.hyperparameters.items() if k != "plain_last"}
    assert build_model("EdgeConvTagger", legacy).plain_last is False
    spec = GraphSpec(feature_names=("a", "b", "c", "d"))
    for model, name in ((old, "legacy.pt"), (new, "new.pt")):
        save_checkpoint(tmp_path / name, model, "EdgeConvTagger", spec, {})
    data = torch.load(tmp_path / "legacy.pt", weights_only=True)
    data["hyperparameters"].pop("plain_last")
    torch.save(data, tmp_path / "legacy.pt")
    for model, name in ((old, "legacy.pt"), (new, "new.pt")):
        loaded, _ = load_checkpoint(tmp_path / name)
        torch.testing.assert_close(loaded(*inputs), model.eval()(*inputs), atol=0, rtol=0)


def aggregated_widths(layer: torch.nn.Module, graph: Graph) -> set[int]:
    """The feature widths ``layer`` aggregates over in one forward pass."""
    widths: set[int] = set()
    if isinstance(layer, GCNConv):
        original = gcn_module.scatter

        def spy(src, *args, **kwargs):  # type: ignore[no-untyped-def]
            if src.dim() == 2:
                widths.add(src.size(1))
            return original(src, *args, **kwargs)

        gcn_module.scatter = spy
        try:
            layer(graph.x, graph.edge_index)
        finally:
            gcn_module.scatter = original
        return widths
    aggregate = layer.aggregate
    layer.aggregate = lambda inputs, *a, **kw: (
        widths.add(inputs.size(-1)) or aggregate(inputs, *a, **kw)
    )
    layer(graph.x, graph.edge_index)
    del layer.aggregate
    return widths


LAYERS = {
    # name: (class, kwargs, in, out, width aggregated)
    "sage_mean_narrowing": (SAGEConv, {}, 16, 4, 4),
    "sage_sum_narrowing_no_root": (SAGEConv, {"aggr": "sum", "root_weight": False}, 16, 4, 4),
    "sage_max_narrowing": (SAGEConv, {"aggr": "max"}, 16, 4, 16),  # max does not commute
    "sage_mean_widening": (SAGEConv, {}, 4, 16, 4),
    "sage_mean_project": (SAGEConv, {"project": True}, 16, 4, 4),
    "graph_conv_add_narrowing": (GraphConv, {}, 16, 4, 4),
    "graph_conv_mean_narrowing": (GraphConv, {"aggr": "mean"}, 16, 4, 4),
    "graph_conv_max_narrowing": (GraphConv, {"aggr": "max"}, 16, 4, 16),
    "gcn_widening": (GCNConv, {}, 4, 16, 4),
    "gcn_narrowing": (GCNConv, {}, 16, 4, 4),
    "gcn_widening_no_loops": (GCNConv, {"add_self_loops": False, "normalize": False}, 4, 16, 4),
}


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("graph", corner_cases(16)[1::2], ids=lambda g: g.name)
def test_linear_on_the_narrower_side_matches_pyg(name: str, graph: Graph) -> None:
    cls, kwargs, width_in, width_out, aggregated = LAYERS[name]
    torch.manual_seed(5)
    theirs = getattr(pyg_nn, cls.__name__)(width_in, width_out, **kwargs)
    ours = cls(width_in, width_out, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    x = graph.x[:, :width_in]
    graph = Graph(graph.name, x, graph.edge_index, graph.batch)
    assert aggregated_widths(ours, graph) <= {aggregated, 1}  # 1: degrees and norms
    torch.testing.assert_close(
        ours(x, graph.edge_index), theirs(x, graph.edge_index), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("name", ["sage_mean_narrowing", "gcn_widening"])
def test_linear_on_the_narrower_side_onnx_round_trip(name: str) -> None:
    cls, kwargs, width_in, width_out, _ = LAYERS[name]
    torch.manual_seed(6)
    module = cls(width_in, width_out, **kwargs).eval()
    example = random_batch([6, 4], 3.0, width_in, seed=0)
    model = export_model(
        module,
        {"x": example.x, "edge_index": example.edge_index},
        {"x": {0: "N"}, "edge_index": {1: "E"}},
    )
    cases = [*corner_cases(width_in, seed=9)[:3], random_batch([40, 30], 6.0, width_in, seed=2)]
    inputs = [{"x": graph.x, "edge_index": graph.edge_index} for graph in cases]
    assert_exact_on_any_threads(model, module, inputs, runs=1)
