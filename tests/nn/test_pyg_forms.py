"""The API forms torch_geometric users write, on e2e_gnn's layers: scatter/softmax with
torch_geometric.utils' signatures, bipartite pairs and ``size``, ``flow``, lazy
``in_channels=-1``, ``[*, N, F]`` features, sparse ``adj_t``, lists of aggregations.
Parity with torch_geometric 2.8 (weights via load_state_dict, 1e-5) and ONNX round trips."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch_geometric.nn as pyg_nn
import torch_geometric.utils as pyg_utils
from _nn_graphs import corner_cases, random_batch
from _nn_onnx import assert_exact_on_any_threads, export_model

import e2e_gnn.nn as ours_nn


def build(cls: str, *args: Any, **kwargs: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    theirs = getattr(pyg_nn, cls)(*args, **kwargs)
    ours = getattr(ours_nn, cls)(*args, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours.eval(), theirs.eval()


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


# scatter / softmax ---------------------------------------------------------------------


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_has_pyg_signature(reduce: str, dim: int) -> None:
    gen = torch.Generator().manual_seed(1)
    src = torch.randn(3, 7, 7, generator=gen)
    index = torch.tensor([4, 0, 4, 1, 0, 6, 4])
    if dim == 0:
        src, index = src[0], index
    for dim_size in (None, 9):
        close(
            ours_nn.scatter(src, index, dim, dim_size=dim_size, reduce=reduce),  # type: ignore[arg-type]
            pyg_utils.scatter(src, index, dim, dim_size=dim_size, reduce=reduce),
        )


def test_scatter_old_positional_dim_size_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="third argument is `dim`.*dim_size="):
        ours_nn.scatter(torch.randn(4, 2), torch.zeros(4, dtype=torch.long), 5)


def test_softmax_has_pyg_signature() -> None:
    gen = torch.Generator().manual_seed(2)
    src = torch.randn(6, 3, generator=gen)
    index = torch.tensor([0, 0, 2, 2, 2, 3])
    ptr = torch.tensor([0, 2, 2, 5, 6])
    close(ours_nn.softmax(src, index), pyg_utils.softmax(src, index))
    close(ours_nn.softmax(src, index, num_nodes=7), pyg_utils.softmax(src, index, num_nodes=7))
    close(ours_nn.softmax(src, None, ptr), pyg_utils.softmax(src, None, ptr))
    close(ours_nn.softmax(src.t(), index, dim=1), pyg_utils.softmax(src.t(), index, dim=1))
    with pytest.raises(ValueError, match="pass `index`"):
        ours_nn.softmax(src)


# Layer forms -------------------------------------------------------------------------

BIPARTITE_LAYERS = [
    ("GraphConv", (3, 5), {}),
    ("GraphConv", (3, 5), {"aggr": "max"}),
    ("SAGEConv", (3, 5), {}),
    ("SAGEConv", (3, 5), {"aggr": ["mean", "max", "std"]}),
    ("SAGEConv", (3, 5), {"aggr": ["sum", "min"], "aggr_kwargs": {"mode": "sum"}}),
    ("SAGEConv", (3, 5), {"project": True, "normalize": True}),
]


def bipartite(seed: int, n_src: int = 7, n_dst: int = 4, e: int = 20) -> tuple:
    gen = torch.Generator().manual_seed(seed)
    x_src, x_dst = torch.randn(n_src, 3, generator=gen), torch.randn(n_dst, 3, generator=gen)
    edge_index = torch.stack(
        [torch.randint(0, n_src, (e,), generator=gen), torch.randint(0, n_dst, (e,), generator=gen)]
    )
    return x_src, x_dst, edge_index


@pytest.mark.parametrize(("cls", "args", "kwargs"), BIPARTITE_LAYERS, ids=str)
def test_bipartite_and_size_match_pyg(cls: str, args: tuple, kwargs: dict) -> None:
    ours, theirs = build(cls, *args, **kwargs)
    x_src, x_dst, edge_index = bipartite(0)
    out = ours((x_src, x_dst), edge_index)
    assert out.shape == (4, 5)
    close(out, theirs((x_src, x_dst), edge_index))
    # size = (N_src, N_dst) with a graph whose last target nodes receive nothing
    close(
        ours((x_src, x_dst), edge_index, size=(7, 4)),
        theirs((x_src, x_dst), edge_index, size=(7, 4)),
    )
    square, _ = build(cls, 3, 5, **kwargs)
    for graph in corner_cases(3):
        close(square(graph.x, graph.edge_index), _(graph.x, graph.edge_index))


@pytest.mark.parametrize("cls", ["GraphConv", "SAGEConv"])
def test_flow_target_to_source_and_batched_features_match_pyg(cls: str) -> None:
    ours, theirs = build(cls, 3, 5, flow="target_to_source")
    graph = corner_cases(3)[-3]
    close(ours(graph.x, graph.edge_index), theirs(graph.x, graph.edge_index))
    ours, theirs = build(cls, 3, 5)
    x = torch.randn(2, graph.num_nodes, 3)
    close(ours(x, graph.edge_index), theirs(x, graph.edge_index))


@pytest.mark.parametrize("cls", ["GraphConv", "SAGEConv", "GCNConv"])
@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_sparse_adj_t_matches_pyg(cls: str, layout: str) -> None:
    ours, theirs = build(cls, 3, 5)
    graph = corner_cases(3)[-2]
    n = graph.num_nodes
    graph.edge_index = graph.edge_index[:, graph.edge_index[0] != graph.edge_index[1]]
    adj_t = torch.sparse_coo_tensor(
        graph.edge_index.flip(0),
        torch.ones(graph.edge_index.size(1)),
        (n, n),
        check_invariants=True,
    ).coalesce()
    with warnings.catch_warnings():  # torch: "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        sparse = adj_t if layout == "coo" else adj_t.to_sparse_csr()
        close(ours(graph.x, sparse), theirs(graph.x, sparse))


LAZY = [
    ("GCNConv", {}),
    ("GraphConv", {}),
    ("SAGEConv", {}),
    ("SAGEConv", {"aggr": ["mean", "max"]}),
]


@pytest.mark.parametrize(("cls", "kwargs"), LAZY, ids=str)
def test_lazy_in_channels_load_and_export(cls: str, kwargs: dict) -> None:
    graph = random_batch([5, 4], 3.0, 3, seed=0)
    torch.manual_seed(0)
    theirs = getattr(pyg_nn, cls)(-1, 5, **kwargs)
    theirs(graph.x, graph.edge_index)  # PyG's lazy layers are sized by a forward pass
    ours = getattr(ours_nn, cls)(-1, 5, **kwargs)
    ours(graph.x, graph.edge_index)
    ours.load_state_dict(theirs.state_dict())
    graphs = corner_cases(3)
    for g in graphs:
        close(ours(g.x, g.edge_index), theirs(g.x, g.edge_index))
    fresh = getattr(ours_nn, cls)(-1, 5, **kwargs)  # loads without a forward pass too
    fresh.load_state_dict(theirs.state_dict())
    example = {"x": graph.x, "edge_index": graph.edge_index}
    model = export_model(fresh, example, {"x": {0: "N"}, "edge_index": {1: "E"}})
    assert_exact_on_any_threads(
        model, fresh, [{"x": g.x, "edge_index": g.edge_index} for g in graphs]
    )


class _Bipartite(torch.nn.Module):
    def __init__(self, conv: torch.nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x_src: torch.Tensor, x_dst: torch.Tensor, edge_index: torch.Tensor):
        return self.conv((x_src, x_dst), edge_index)


@pytest.mark.parametrize(("cls", "args", "kwargs"), BIPARTITE_LAYERS[::2], ids=str)
def test_bipartite_onnx_is_exact_on_any_threads(cls: str, args: tuple, kwargs: dict) -> None:
    module = _Bipartite(build(cls, *args, **kwargs)[0])
    names = ("x_src", "x_dst", "edge_index")
    example = dict(zip(names, bipartite(0), strict=True))
    dynamic = {"x_src": {0: "Ns"}, "x_dst": {0: "Nt"}, "edge_index": {1: "E"}}
    model = export_model(module, example, dynamic)
    cases = [bipartite(1, 1, 1, 0), bipartite(2, 1, 6, 3), bipartite(3, 500, 300, 4000)]
    inputs = [dict(zip(names, case, strict=True)) for case in cases]
    assert_exact_on_any_threads(model, module, inputs)


@pytest.mark.parametrize(
    ("build_layer", "match"),
    [
        (lambda: ours_nn.SAGEConv(4, 6, aggr="mul"), "'mul'"),
        (lambda: ours_nn.SAGEConv(-1, 6, project=True), "lazy"),
        (
            lambda: ours_nn.SAGEConv(4, 6, aggr=["sum", "max"], aggr_kwargs={"mode": "attn"}),
            "'attn' needs mode_kwargs in_channels and out_channels",
        ),
    ],
)
def test_unsupported_forms_are_clear_errors(build_layer: Callable, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_layer()


@pytest.mark.parametrize(
    ("in_channels", "kwargs"),
    [
        (3, {"heads": 2}),
        ((3, 3), {"heads": 2, "residual": True}),
        ((3, 3), {"edge_dim": 2, "concat": False}),
        (-1, {"heads": 2}),
    ],
    ids=str,
)
def test_gat_bipartite_size_and_attention_weights_match_pyg(in_channels: Any, kwargs: dict) -> None:
    x_src, x_dst, edge_index = bipartite(4)
    torch.manual_seed(0)
    theirs = pyg_nn.GATConv(in_channels, 5, **kwargs).eval()
    ours = ours_nn.GATConv(in_channels, 5, **kwargs).eval()
    edge_attr = torch.randn(edge_index.size(1), 2) if "edge_dim" in kwargs else None
    if in_channels == -1:
        theirs((x_src, x_dst), edge_index)
    ours.load_state_dict(theirs.state_dict())
    for size in (None, (7, 4)):
        out, (edges, alpha) = ours(
            (x_src, x_dst), edge_index, edge_attr, size=size, return_attention_weights=True
        )
        ref, (ref_edges, ref_alpha) = theirs(
            (x_src, x_dst), edge_index, edge_attr, size=size, return_attention_weights=True
        )
        close(out, ref)
        assert torch.equal(edges, ref_edges)
        close(alpha, ref_alpha)
    graph = corner_cases(3)[4]  # self loops: PyG drops them from the returned edge list
    square_theirs = pyg_nn.GATConv(3, 5, heads=2).eval()
    square = ours_nn.GATConv(3, 5, heads=2).eval()
    square.load_state_dict(square_theirs.state_dict())
    out, (edges, alpha) = square(graph.x, graph.edge_index, return_attention_weights=True)
    ref, (ref_edges, ref_alpha) = square_theirs(
        graph.x, graph.edge_index, return_attention_weights=True
    )
    close(out, ref)
    assert torch.equal(edges, ref_edges)
    close(alpha, ref_alpha)


def test_gat_bipartite_onnx_is_exact_on_any_threads() -> None:
    torch.manual_seed(0)
    module = _Bipartite(ours_nn.GATConv((3, 3), 5, heads=2, residual=True))
    names = ("x_src", "x_dst", "edge_index")
    example = dict(zip(names, bipartite(0), strict=True))
    dynamic = {"x_src": {0: "Ns"}, "x_dst": {0: "Nt"}, "edge_index": {1: "E"}}
    model = export_model(module, example, dynamic)
    cases = [bipartite(1, 1, 1, 0), bipartite(2, 1, 6, 3), bipartite(3, 500, 300, 4000)]
    inputs = [dict(zip(names, case, strict=True)) for case in cases]
    assert_exact_on_any_threads(model, module, inputs)


def edge_mlp() -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 5))


@pytest.mark.parametrize("aggr", ["max", "mean", "add"])
def test_edge_conv_bipartite_and_flow_match_pyg(aggr: str) -> None:
    torch.manual_seed(0)
    theirs = pyg_nn.EdgeConv(edge_mlp(), aggr=aggr).eval()
    ours = ours_nn.EdgeConv(edge_mlp(), aggr=aggr).eval()
    ours.load_state_dict(theirs.state_dict())
    x_src, x_dst, edge_index = bipartite(6)
    close(ours((x_src, x_dst), edge_index), theirs((x_src, x_dst), edge_index))
    theirs_flow = pyg_nn.EdgeConv(edge_mlp(), aggr=aggr, flow="target_to_source").eval()
    ours_flow = ours_nn.EdgeConv(edge_mlp(), aggr=aggr, flow="target_to_source").eval()
    ours_flow.load_state_dict(theirs_flow.state_dict())
    for graph in corner_cases(3):
        close(ours_flow(graph.x, graph.edge_index), theirs_flow(graph.x, graph.edge_index))


def test_edge_conv_bipartite_onnx_is_exact_on_any_threads() -> None:
    torch.manual_seed(0)
    module = _Bipartite(ours_nn.EdgeConv(edge_mlp(), aggr="mean"))
    names = ("x_src", "x_dst", "edge_index")
    example = dict(zip(names, bipartite(0), strict=True))
    dynamic = {"x_src": {0: "Ns"}, "x_dst": {0: "Nt"}, "edge_index": {1: "E"}}
    model = export_model(module, example, dynamic)
    cases = [bipartite(1, 1, 1, 0), bipartite(2, 1, 6, 3), bipartite(3, 500, 300, 4000)]
    inputs = [dict(zip(names, case, strict=True)) for case in cases]
    assert_exact_on_any_threads(model, module, inputs)


class _ScatterWithoutSize(torch.nn.Module):
    def forward(self, src: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return ours_nn.scatter(src, index, 0)


def test_scatter_without_dim_size_export_names_the_form() -> None:
    args = {"src": torch.randn(4, 2), "index": torch.tensor([0, 1, 1, 2])}
    with pytest.raises(Exception, match=r"dim_size=None cannot be exported"):
        export_model(_ScatterWithoutSize(), args, {})


def test_sage_lstm_matches_pyg_in_eager_and_names_itself_at_export() -> None:
    ours, theirs = build("SAGEConv", 3, 5, aggr="lstm")
    for graph in corner_cases(3):
        if graph.edge_index.size(1) == 0:
            continue  # PyG's LSTM gets a zero-length sequence
        edge_index = graph.edge_index[:, graph.edge_index[1].argsort(stable=True)]
        close(ours(graph.x, edge_index), theirs(graph.x, edge_index))
    graph = corner_cases(3)[-3]
    with pytest.raises(ValueError, match="sorted by target"):
        ours(graph.x, graph.edge_index.flip(1))
    sorted_edges = graph.edge_index[:, graph.edge_index[1].argsort(stable=True)]
    with pytest.raises(Exception, match="aggr='lstm' cannot be exported"):
        export_model(ours, {"x": graph.x, "edge_index": sorted_edges}, {})
