"""Fused operators (issue 16): aggregations exported as ``ai.e2e_gnn`` nodes, run by e2e_gnn's
custom operator library in ONNX Runtime, against torch (eager, the reference) and against
the plain ONNX export of the same module."""

from __future__ import annotations

import collections
import collections.abc

import numpy as np
import onnx
import pytest
import torch
from _nn_graphs import Graph, corner_cases, knn_batch, random_batch
from _nn_onnx import export_model, open_session

from e2e_gnn.nn import (
    ARMAConv,
    EdgeConv,
    GATConv,
    GATv2Conv,
    GCNConv,
    GINConv,
    GINEConv,
    GraphConv,
    SAGEConv,
    TransformerConv,
    global_max_pool,
    global_mean_pool,
)
from e2e_gnn.nn._fused_ops import DOMAIN, edge_aggregate, fused_operators
from e2e_gnn.nn.models import EdgeConvTagger

GRAPH_AXES = {"x": {0: "N"}, "edge_index": {1: "E"}}
TAGGER_AXES = {"x": {0: "N"}, "edge_index": {1: "E"}, "batch": {0: "N"}}
THREADS = (1, 4)


def fused_export(module: torch.nn.Module, args: dict, axes: dict) -> onnx.ModelProto:
    with fused_operators():
        return export_model(module, args, axes)


def op_counts(model: onnx.ModelProto) -> collections.Counter:
    return collections.Counter((node.domain, node.op_type) for node in model.graph.node)


def mlp(*layers: torch.nn.Module) -> torch.nn.Sequential:
    return torch.nn.Sequential(*layers)


def edge_conv_cases() -> dict[str, EdgeConv]:
    torch.manual_seed(0)
    return {
        "linear_mean": EdgeConv(torch.nn.Linear(8, 6), aggr="mean"),
        "relu_max": EdgeConv(mlp(torch.nn.Linear(8, 6), torch.nn.ReLU()), aggr="max"),
        "relu_linear_add": EdgeConv(
            mlp(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5)), aggr="add"
        ),
        "relu_linear_mean_fixed_degree": EdgeConv(
            mlp(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5)),
            aggr="mean",
            fixed_degree=8,
        ),
    }


def graphs() -> list[Graph]:
    return [knn_batch([7, 1, 12], 4, 4, seed=1), *corner_cases(4)]


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray], threads: int) -> list[np.ndarray]:
    session = open_session(model, threads)
    wanted = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v for k, v in feeds.items() if k in wanted})


@pytest.mark.parametrize("name", list(edge_conv_cases()))
def test_fused_edge_conv_matches_torch_on_any_threads(name: str) -> None:
    conv = edge_conv_cases()[name].eval()
    example = knn_batch([9, 11], 4, 4, seed=0)
    model = fused_export(conv, {"x": example.x, "edge_index": example.edge_index}, GRAPH_AXES)
    counts = op_counts(model)
    assert counts[(DOMAIN, "EdgeAggregate")] == 1, counts
    assert not {op for _, op in counts} & {"TopK", "ScatterND", "NonZero"}, counts
    for graph in graphs():
        if conv.fixed_degree is not None and not graph.name.startswith("knn"):
            continue  # fixed_degree needs target-sorted kNN edges (the eager check says so)
        with torch.no_grad():
            ref = conv(graph.x, graph.edge_index).numpy()
        feeds = {"x": graph.x.numpy(), "edge_index": graph.edge_index.numpy()}
        outs = [run(model, feeds, threads)[0] for threads in THREADS]
        np.testing.assert_allclose(outs[0], ref, atol=1e-5, rtol=1e-6, err_msg=graph.name)
        np.testing.assert_array_equal(outs[0], outs[1], err_msg=f"{graph.name}: threads")


def test_fused_edge_conv_is_used_only_when_exact() -> None:
    """An MLP whose per-edge part is more than the split Linear and a ReLU keeps the plain
    per-edge messages (aggregated with SegmentReduce), and still matches torch."""
    torch.manual_seed(0)
    conv = EdgeConv(
        mlp(torch.nn.Linear(8, 6), torch.nn.Tanh(), torch.nn.Linear(6, 5), torch.nn.ReLU()),
        aggr="max",
    ).eval()
    graph = random_batch([8, 5], 3.0, 4, seed=3)
    model = fused_export(conv, {"x": graph.x, "edge_index": graph.edge_index}, GRAPH_AXES)
    counts = op_counts(model)
    assert counts[(DOMAIN, "EdgeAggregate")] == 0
    assert counts[(DOMAIN, "SegmentReduce")] >= 1, counts
    with torch.no_grad():
        ref = conv(graph.x, graph.edge_index).numpy()
    feeds = {"x": graph.x.numpy(), "edge_index": graph.edge_index.numpy()}
    np.testing.assert_allclose(run(model, feeds, 1)[0], ref, atol=1e-5, rtol=1e-6)


class Pools(torch.nn.Module):
    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor):
        size = 4  # a trailing empty graph: its rows are 0
        return torch.cat([global_mean_pool(x, batch, size), global_max_pool(x, batch, size)], dim=1)


@pytest.mark.parametrize(
    "layer",
    [
        pytest.param(lambda: GCNConv(4, 6), id="gcn"),
        pytest.param(lambda: SAGEConv(4, 6, aggr="max"), id="sage_max"),
        pytest.param(lambda: Pools(), id="pools"),
    ],
)
def test_fused_segment_reduce_matches_torch(layer) -> None:
    torch.manual_seed(0)
    module = layer().eval()
    example = random_batch([6, 9, 5], 3.0, 4, seed=0)
    args = {"x": example.x, "edge_index": example.edge_index}
    axes = dict(GRAPH_AXES)
    if isinstance(module, Pools):
        args["batch"], axes = example.batch, TAGGER_AXES
    model = fused_export(module, args, axes)
    counts = op_counts(model)
    assert counts[(DOMAIN, "SegmentReduce")] + counts[(DOMAIN, "GatherSegmentReduce")] >= 1
    assert not {op for _, op in counts} & {"TopK", "NonZero"}, counts
    for graph in [random_batch([5, 12], 2.5, 4, seed=4), random_batch([3, 7], 0.0, 4, seed=5)]:
        feeds = {"x": graph.x.numpy(), "edge_index": graph.edge_index.numpy()}
        if "batch" in args:
            feeds["batch"] = graph.batch.numpy()
        with torch.no_grad():
            ref = module(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()
        outs = [run(model, feeds, threads)[0] for threads in THREADS]
        np.testing.assert_allclose(outs[0], ref, atol=1e-5, rtol=1e-6)
        np.testing.assert_array_equal(outs[0], outs[1])


def test_fused_tagger_equals_plain_export() -> None:
    """The default tagger: three EdgeAggregate nodes and no sort; fused and plain exports
    give torch's scores."""
    torch.manual_seed(0)
    tagger = EdgeConvTagger(4, hidden=16, num_layers=3).eval()
    example = knn_batch([9, 14, 6], 5, 4, seed=0)
    args = {"x": example.x, "edge_index": example.edge_index, "batch": example.batch}
    fused = fused_export(tagger, args, TAGGER_AXES)
    plain = export_model(tagger, args, TAGGER_AXES)
    assert op_counts(fused)[(DOMAIN, "EdgeAggregate")] == 3
    assert not {op for _, op in op_counts(fused)} & {"TopK", "NonZero", "ScatterND"}
    graph = knn_batch([30, 2, 17, 41], 8, 4, seed=7)
    feeds = {"x": graph.x.numpy(), "edge_index": graph.edge_index.numpy()}
    feeds["batch"] = graph.batch.numpy()
    with torch.no_grad():
        ref = tagger(graph.x, graph.edge_index, graph.batch).numpy()
    for model in (fused, plain):
        np.testing.assert_allclose(run(model, feeds, 1)[0], ref, atol=1e-5, rtol=1e-6)


def test_edge_aggregate_eager_is_the_layer_chain() -> None:
    """The op's own eager implementation (used while tracing) equals the explicit chain."""
    gen = torch.Generator().manual_seed(0)
    node_i, node_j = torch.randn(5, 3, generator=gen), torch.randn(4, 3, generator=gen)
    source, target = torch.tensor([0, 3, 3, 1, 2]), torch.tensor([4, 0, 4, 4, 1])
    out, degree = edge_aggregate(node_i, node_j, source, target, "relu", "max")
    expected = torch.zeros(5, 3)
    for i in range(5):
        rows = [
            torch.relu(node_i[i] + node_j[s]) for s, t in zip(source, target, strict=True) if t == i
        ]
        if rows:
            expected[i] = torch.stack(rows).amax(0)
    torch.testing.assert_close(out, expected)
    assert degree.tolist() == [1.0, 1.0, 0.0, 0.0, 3.0]


def test_fused_interaction_network_matches_pyg() -> None:
    """A user's own MessagePassing layer (the GNN-tracking interaction network, PyG's weights)
    exported with fused operators: its aggregation becomes SegmentReduce, its numbers PyG's."""
    from test_message_passing import edge_features, interaction_network, pair

    ours, theirs = pair(interaction_network)
    example = random_batch([5, 4], 3.0, 3, seed=0)
    args = {"x": example.x, "edge_index": example.edge_index}
    args["edge_attr"] = edge_features(example, 4)
    axes = {"x": {0: "N"}, "edge_index": {1: "E"}, "edge_attr": {0: "E"}}
    model = fused_export(ours, args, axes)
    assert op_counts(model)[(DOMAIN, "SegmentReduce")] == 1
    for graph in [random_batch([300, 500], 8.0, 3, seed=1), *corner_cases(3)]:
        feeds = {"x": graph.x, "edge_index": graph.edge_index}
        feeds["edge_attr"] = edge_features(graph, 4)
        with torch.no_grad():
            ref = theirs(**feeds).numpy()
        numpy_feeds = {k: v.numpy() for k, v in feeds.items()}
        np.testing.assert_allclose(run(model, numpy_feeds, 1)[0], ref, atol=1e-5, rtol=0)


class WeightedGraphConv(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = GraphConv(4, 6, aggr="mean")

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor):
        return self.conv(x, edge_index, edge_weight)


@pytest.mark.parametrize(
    ("layer", "weighted"),
    [
        pytest.param(lambda: SAGEConv(4, 6), False, id="sage_mean"),
        pytest.param(lambda: GINConv(torch.nn.Linear(4, 6)), False, id="gin"),
        pytest.param(lambda: GCNConv(4, 6), True, id="gcn"),
        pytest.param(WeightedGraphConv, True, id="graph_conv_edge_weight"),
    ],
)
def test_gathered_messages_are_reduced_in_place(layer, weighted: bool) -> None:
    """Messages that are gathered rows, ``x_j`` or ``edge_weight * x_j``, are reduced by
    GatherSegmentReduce straight from the node features (no [E, F] copy) with the layer's
    numbers."""
    torch.manual_seed(0)
    module = layer().eval()
    example = random_batch([6, 9, 5], 3.0, 4, seed=0)
    gen = torch.Generator().manual_seed(0)
    args = {"x": example.x, "edge_index": example.edge_index}
    axes = dict(GRAPH_AXES)
    if isinstance(module, WeightedGraphConv):
        args["edge_weight"] = torch.rand(example.edge_index.size(1), generator=gen)
        axes["edge_weight"] = {0: "E"}
    model = fused_export(module, args, axes)
    fused = [n for n in model.graph.node if n.op_type == "GatherSegmentReduce"]
    assert fused, op_counts(model)
    assert any(len([i for i in n.input if i]) == 5 for n in fused) == weighted
    if "edge_weight" in args:
        edge_weight = lambda e: {"edge_weight": torch.rand(e, generator=gen)}  # noqa: E731
        assert_fused_matches(module, model, edge_weight)
    else:
        assert_fused_matches(module, model)


def assert_fused_matches(
    module: torch.nn.Module,
    model: onnx.ModelProto,
    extra_inputs: collections.abc.Callable[[int], dict[str, torch.Tensor]] | None = None,
    rtol: float = 1e-6,
) -> None:
    """The fused export gives the module's numbers (and the same on 1 and 4 threads) on a
    random batch and the corner cases; ``extra_inputs(E)``: inputs beyond x and edge_index."""
    for graph in [random_batch([5, 12], 2.5, 4, seed=4), *corner_cases(4)]:
        feeds = {"x": graph.x, "edge_index": graph.edge_index}
        if extra_inputs is not None:
            feeds.update(extra_inputs(graph.edge_index.size(1)))
        with torch.no_grad():
            ref = module(**feeds).numpy()
        numpy_feeds = {k: v.numpy() for k, v in feeds.items()}
        outs = [run(model, numpy_feeds, threads)[0] for threads in THREADS]
        np.testing.assert_allclose(outs[0], ref, atol=1e-5, rtol=rtol, err_msg=graph.name)
        np.testing.assert_array_equal(outs[0], outs[1], err_msg=graph.name)


class WithEdgeAttr(torch.nn.Module):
    def __init__(self, conv: torch.nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor):
        return self.conv(x, edge_index, edge_attr)


def relu_mlp(width: int) -> torch.nn.Sequential:
    return mlp(torch.nn.Linear(width, width), torch.nn.ReLU())


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        # alpha_j + alpha_i from per-node terms; softmax; alpha.unsqueeze(-1) * x_j
        (
            lambda: GATConv(4, 5, heads=3),
            {"SegmentSoftmax": 1, "GatherSegmentReduce": 1, "SegmentReduce": 0},
        ),
        (lambda: GATConv(4, 5, heads=2, concat=False), {"SegmentSoftmax": 1}),
        (
            lambda: GATv2Conv(4, 5, heads=3),
            {"EdgeScore": 1, "SegmentSoftmax": 1, "GatherSegmentReduce": 1, "SegmentReduce": 0},
        ),
        (lambda: TransformerConv(4, 5, heads=3, concat=False), {"EdgeScore": 1}),
        # the degrees of the normalisation are the one SegmentReduce
        (
            lambda: ARMAConv(4, 5, num_stacks=3, num_layers=2),
            {"GatherSegmentReduce": 2, "SegmentReduce": 1},
        ),
        (
            lambda: WithEdgeAttr(GINEConv(relu_mlp(4), edge_dim=3)),
            {"GatherSegmentReduce": 1, "SegmentReduce": 0},
        ),
        # edge features in the attention: the scores stay plain ONNX, the rest is fused
        (lambda: WithEdgeAttr(GATv2Conv(4, 5, heads=2, edge_dim=3)), {"EdgeScore": 0}),
    ],
    ids=["gat", "gat_mean", "gatv2", "transformer", "arma", "gine", "gatv2_edge_attr"],
)
def test_fused_attention_and_edge_terms(layer, expected: dict[str, int]) -> None:
    """The attention layers' scores (EdgeScore), softmax (SegmentSoftmax) and weighted
    aggregation (GatherSegmentReduce with one weight per head), ARMA's weighted propagation
    and GINEConv's relu(x_j + edge_attr) as fused operators, with the layer's numbers on
    any thread count, existing self loops and isolated nodes included."""
    torch.manual_seed(0)
    module = layer().eval()
    example = random_batch([6, 9, 5], 3.0, 4, seed=0)
    gen = torch.Generator().manual_seed(0)
    args = {"x": example.x, "edge_index": example.edge_index}
    axes = dict(GRAPH_AXES)
    if isinstance(module, WithEdgeAttr):
        args["edge_attr"] = torch.randn(example.edge_index.size(1), 3, generator=gen)
        axes["edge_attr"] = {0: "E"}
    model = fused_export(module, args, axes)
    counts = op_counts(model)
    for op, count in expected.items():
        assert counts[(DOMAIN, op)] == count, counts
    if "edge_attr" in args:
        edge_attr = lambda e: {"edge_attr": torch.randn(e, 3, generator=gen)}  # noqa: E731
        assert_fused_matches(module, model, edge_attr, rtol=1e-5)
    else:
        assert_fused_matches(module, model, rtol=1e-5)
