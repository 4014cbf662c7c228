"""MessagePassing: layers written for torch_geometric.nn.MessagePassing, ported by changing
the base class only, give PyG's numbers with PyG's weights and export exactly."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import pytest
import torch
import torch_geometric.nn as pyg_nn
from _nn_graphs import Graph, corner_cases, random_batch
from _nn_onnx import assert_exact_on_any_threads, export_model

import e2e_gnn.nn as ours_nn


def mlp(sizes: list[int]) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def interaction_network(base: type) -> type:
    """The interaction network of GNN track finding (Princeton/Exa.TrkX "IN": relational
    model R1 on [x_i, x_j, e], object model O on [x, sum of messages], relational model R2
    on the updated nodes for edge scores), written for torch_geometric; ``base`` is
    ``torch_geometric.nn.MessagePassing`` or ``e2e_gnn.nn.MessagePassing`` (the import)."""

    class InteractionNetwork(base):  # type: ignore[misc, valid-type]
        def __init__(self, node_dim: int = 3, edge_dim: int = 4, hidden: int = 40) -> None:
            super().__init__(aggr="add", flow="source_to_target")
            self.R1 = mlp([2 * node_dim + edge_dim, hidden, hidden, edge_dim])
            self.O = mlp([node_dim + edge_dim, hidden, hidden, node_dim])
            self.R2 = mlp([2 * node_dim + edge_dim, hidden, hidden, 1])

        def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor):
            x_tilde = self.propagate(edge_index, x=x, edge_attr=edge_attr, size=None)
            m2 = torch.cat([x_tilde[edge_index[1]], x_tilde[edge_index[0]], self.E], dim=1)
            return torch.sigmoid(self.R2(m2)).squeeze(-1)

        def message(self, x_i: torch.Tensor, x_j: torch.Tensor, edge_attr: torch.Tensor):
            self.E = self.R1(torch.cat([x_i, x_j, edge_attr], dim=1))
            return self.E

        def update(self, aggr_out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return self.O(torch.cat([x, aggr_out], dim=1))

    return InteractionNetwork


def pair(cls_of: Any, *args: Any, **kwargs: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(ours, theirs): the same layer source on both bases, PyG's weights loaded unchanged."""
    torch.manual_seed(0)
    theirs = cls_of(pyg_nn.MessagePassing)(*args, **kwargs)
    ours = cls_of(ours_nn.MessagePassing)(*args, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours.eval(), theirs.eval()


def edge_features(graph: Graph, width: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(graph.edge_index.size(1))
    return torch.randn(graph.edge_index.size(1), width, generator=gen)


GRAPHS = corner_cases(3)


def test_interaction_network_matches_pyg() -> None:
    ours, theirs = pair(interaction_network)
    for graph in GRAPHS:
        args = (graph.x, graph.edge_index, edge_features(graph, 4))
        torch.testing.assert_close(ours(*args), theirs(*args), atol=1e-5, rtol=0)


def test_interaction_network_onnx_is_exact_on_any_threads() -> None:
    ours, _ = pair(interaction_network)
    example = random_batch([5, 4], 3.0, 3, seed=0)
    args = {"x": example.x, "edge_index": example.edge_index}
    args["edge_attr"] = edge_features(example, 4)
    dynamic = {"x": {0: "N"}, "edge_index": {1: "E"}, "edge_attr": {0: "E"}}
    model = export_model(ours, args, dynamic)
    large = random_batch([300, 500], 8.0, 3, seed=1, name="large")
    inputs = [
        {"x": g.x, "edge_index": g.edge_index, "edge_attr": edge_features(g, 4)}
        for g in [*GRAPHS, large]
    ]
    assert_exact_on_any_threads(model, ours, inputs)


def weighted_layer(base: type) -> type:
    """A generic PyG-style layer using the API forms: ``_i``/``_j`` arguments, optional
    edge weights, bipartite pairs, ``size``, ``update`` with extra arguments."""

    class WeightedConv(base):  # type: ignore[misc, valid-type]
        def __init__(self, aggr: Any = "add", flow: str = "source_to_target", **kw: Any) -> None:
            super().__init__(aggr=aggr, flow=flow, **kw)
            self.lin = torch.nn.Linear(6, 5)
            mode = kw.get("aggr_kwargs", {}).get("mode", "cat")
            concatenated = isinstance(aggr, list) and mode == "cat"
            self.root = torch.nn.Linear(3, 5 * (len(aggr) if concatenated else 1))

        def forward(self, x: Any, edge_index: Any, edge_weight: Any = None, size: Any = None):
            x_dst = x[1] if isinstance(x, tuple) else x
            return self.propagate(edge_index, x=x, edge_weight=edge_weight, size=size, r=x_dst)

        def message(self, x_i: torch.Tensor, x_j: torch.Tensor, edge_weight: Any):
            out = self.lin(torch.cat([x_i, x_j - x_i], dim=-1))
            return out if edge_weight is None else out * edge_weight.view(-1, 1)

        def update(self, inputs: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
            return inputs + self.root(r)

    return WeightedConv


FORMS = [
    ("add", {}),
    ("mean", {}),
    ("max", {}),
    ("min", {}),
    ("std", {}),
    ("var", {}),
    (["mean", "max", "std"], {}),
    (["sum", "max"], {"aggr_kwargs": {"mode": "sum"}}),
    ("add", {"flow": "target_to_source"}),
]


@pytest.mark.parametrize(("aggr", "kwargs"), FORMS, ids=str)
def test_generic_layer_matches_pyg(aggr: Any, kwargs: dict[str, Any]) -> None:
    ours, theirs = pair(weighted_layer, aggr, **kwargs)
    for graph in GRAPHS:
        weight = edge_features(graph, 1).view(-1).abs()
        for args in ((graph.x, graph.edge_index), (graph.x, graph.edge_index, weight)):
            torch.testing.assert_close(ours(*args), theirs(*args), atol=1e-5, rtol=0)


def test_bipartite_pairs_and_size_match_pyg() -> None:
    ours, theirs = pair(weighted_layer, "mean")
    gen = torch.Generator().manual_seed(3)
    x_src, x_dst = torch.randn(7, 3, generator=gen), torch.randn(4, 3, generator=gen)
    edge_index = torch.stack([torch.randint(0, 7, (20,), generator=gen), torch.arange(20) % 3])
    out = ours((x_src, x_dst), edge_index)
    assert out.shape == (4, 5)
    torch.testing.assert_close(out, theirs((x_src, x_dst), edge_index), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="`size` says 5"):
        ours((x_src, x_dst), edge_index, size=(7, 5))


def test_leading_batch_dimensions_match_pyg() -> None:
    ours, theirs = pair(weighted_layer, "max")
    graph = GRAPHS[-3]
    x = torch.randn(2, graph.num_nodes, 3)
    torch.testing.assert_close(
        ours(x, graph.edge_index), theirs(x, graph.edge_index), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("layout", ["coo", "csr", "csc"])
def test_sparse_adjacency_matches_pyg(layout: str) -> None:
    ours, theirs = pair(weighted_layer, "add")
    graph = GRAPHS[-2]
    n = graph.num_nodes
    weight = torch.rand(graph.edge_index.size(1)) + 0.5
    adj_t = torch.sparse_coo_tensor(
        graph.edge_index.flip(0), weight, (n, n), check_invariants=True
    ).coalesce()
    with warnings.catch_warnings():  # torch: "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        sparse = {"coo": adj_t, "csr": adj_t.to_sparse_csr(), "csc": adj_t.to_sparse_csc()}
    # The values become edge_weight, as in PyG: same numbers as PyG on the sparse tensor
    # (PyG rejects CSC) and on the coalesced edge list.
    out = ours(graph.x, sparse[layout])
    if layout != "csc":
        torch.testing.assert_close(out, theirs(graph.x, sparse[layout]), atol=1e-5, rtol=0)
    ref = theirs(graph.x, adj_t.indices().flip(0), adj_t.values())
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


class _SparseInput(torch.nn.Module):
    def __init__(self, conv: torch.nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        n = x.size(0)
        ones = torch.ones(edge_index.size(1))
        adj_t = torch.sparse_coo_tensor(edge_index.flip(0), ones, (n, n), check_invariants=False)
        return self.conv(x, adj_t)


def test_sparse_adjacency_export_names_the_form() -> None:
    ours, _ = pair(weighted_layer, "add")
    graph = GRAPHS[-3]
    with pytest.raises(Exception, match="torch.sparse adjacency cannot be exported"):
        export_model(_SparseInput(ours), {"x": graph.x, "edge_index": graph.edge_index}, {})


def test_rejects_unsupported_configurations() -> None:
    cls = weighted_layer(ours_nn.MessagePassing)
    with pytest.raises(ValueError, match="'lstm'"):
        cls("lstm")
    with pytest.raises(ValueError, match="`flow` must be one of"):
        cls("add", flow="both")
    with pytest.raises(ValueError, match="mode 'proj'"):
        cls(["sum", "max"], aggr_kwargs={"mode": "proj"})
    with pytest.raises(ValueError, match=r"must be \[2, E\]"):
        cls("add")(torch.zeros(3, 3), torch.zeros(3, 2, dtype=torch.long))


def test_accepts_pyg_aggregation_modules() -> None:
    multi = pyg_nn.aggr.MultiAggregation(["mean", "max"])
    ours, theirs = pair(weighted_layer, ["mean", "max"])
    conv = ours_nn.MessagePassing(aggr=multi)
    assert conv.aggr == ["mean", "max"]
    assert ours_nn.MessagePassing(aggr=pyg_nn.aggr.StdAggregation()).aggr == "std"
    graph = GRAPHS[-3]
    torch.testing.assert_close(
        ours(graph.x, graph.edge_index), theirs(graph.x, graph.edge_index), atol=1e-5, rtol=0
    )


def fused_layer(base: type) -> type:
    """A PyG-style layer with ``message_and_aggregate``, which PyG calls for sparse input."""

    class FusedConv(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__(aggr="add")
            self.lin = torch.nn.Linear(3, 4)

        def forward(self, x: torch.Tensor, edge_index: Any) -> torch.Tensor:
            return self.propagate(edge_index, x=self.lin(x))

        def message_and_aggregate(self, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return torch.sparse.mm(adj_t, x) * 2.0  # distinguishable from the edge path

    return FusedConv


def test_message_and_aggregate_is_used_for_sparse_input_as_in_pyg() -> None:
    ours, theirs = pair(fused_layer)
    graph = GRAPHS[-3]
    n = graph.num_nodes
    adj_t = torch.sparse_coo_tensor(
        graph.edge_index.flip(0),
        torch.ones(graph.edge_index.size(1)),
        (n, n),
        check_invariants=True,
    ).coalesce()
    torch.testing.assert_close(ours(graph.x, adj_t), theirs(graph.x, adj_t), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        ours(graph.x, graph.edge_index), theirs(graph.x, graph.edge_index), atol=1e-5, rtol=0
    )


def test_repr_aggr_and_index_errors_match_pyg() -> None:
    ours, theirs = pair(weighted_layer, "add")
    assert ours.aggr == theirs.aggr == "add"
    assert repr(ours) == repr(theirs)
    with pytest.raises(IndexError, match=r"node indices in \[0, 9\] but `x` has 3 rows"):
        ours(torch.zeros(3, 3), torch.tensor([[0, 9], [1, 2]]))
