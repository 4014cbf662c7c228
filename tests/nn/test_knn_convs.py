"""In-model kNN layers (GravNetConv, DynamicEdgeConv, knn_table) against dense references
written here: torch_geometric's versions need pyg-lib's knn, which is not on PyPI."""

from __future__ import annotations

import pytest
import torch
from _nn_graphs import random_batch
from _nn_onnx import assert_exact_on_any_threads, export_model

from e2e_gnn.nn import DynamicEdgeConv, GravNetConv, knn, knn_table


def reference_neighbours(pos: torch.Tensor, batch: torch.Tensor, k: int) -> list[list[int]]:
    """Per node: the min(k, n) nodes of its graph nearest in float64, itself first."""
    pos64 = pos.double()
    out = []
    for i in range(pos.size(0)):
        members = (batch == batch[i]).nonzero().view(-1)
        dist = ((pos64[members] - pos64[i]) ** 2).sum(-1)
        order = sorted(range(members.numel()), key=lambda m: (dist[m].item(), m))
        out.append([int(members[m]) for m in order[:k]])
    return out


def reduce_rows(rows: torch.Tensor, aggr: str) -> torch.Tensor:
    if aggr == "max":
        return rows.max(0).values
    return rows.mean(0) if aggr == "mean" else rows.sum(0)


def dynamic_edge_conv_reference(
    nn: torch.nn.Module, x: torch.Tensor, batch: torch.Tensor, k: int, aggr: str
) -> torch.Tensor:
    rows = []
    for i, neighbours in enumerate(reference_neighbours(x, batch, k)):
        x_j = x[neighbours]
        x_i = x[i].expand_as(x_j)
        rows.append(reduce_rows(nn(torch.cat([x_i, x_j - x_i], dim=-1)), aggr))
    return torch.stack(rows)


def gravnet_reference(layer: GravNetConv, x: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    s, h = layer.lin_s(x), layer.lin_h(x)
    rows = []
    for i, neighbours in enumerate(reference_neighbours(s, batch, layer.k)):
        weight = torch.exp(-10.0 * ((s[neighbours] - s[i]) ** 2).sum(-1))
        messages = h[neighbours] * weight.view(-1, 1)
        rows.append(torch.cat([messages.mean(0), messages.max(0).values]))
    return layer.lin_out1(x) + layer.lin_out2(torch.stack(rows))


CASES = [
    random_batch([20, 3, 1, 9], 0.0, 4, seed=1, name="graphs_smaller_than_k"),
    random_batch([1], 0.0, 4, seed=2, name="single_node"),
    random_batch([2, 2], 0.0, 4, seed=3, name="two_pairs"),
    random_batch([40] * 5, 0.0, 4, seed=4, name="five_graphs"),
]


@pytest.mark.parametrize("graph", CASES, ids=lambda g: g.name)
def test_knn_table_matches_reference(graph) -> None:
    table = knn_table(graph.x, graph.batch, 8)
    for i, expected in enumerate(reference_neighbours(graph.x, graph.batch, 8)):
        got = table.neighbors[i][table.valid[i]].tolist()
        assert got[0] == i and sorted(got) == sorted(expected), i


def test_knn_table_without_batch_is_one_graph() -> None:
    x = torch.randn(12, 3)
    one = knn_table(x, None, 5)
    assert torch.equal(one.neighbors, knn_table(x, torch.zeros(12, dtype=torch.long), 5).neighbors)
    assert bool(one.valid.all())


def test_knn_table_with_ties_finds_nearest_distances() -> None:
    # Integer coordinates: exact distances and many ties, which TopK may break either way;
    # every node still gets itself first and k distinct nodes at the k smallest distances.
    gen = torch.Generator().manual_seed(7)
    x = torch.randint(0, 3, (60, 2), generator=gen).float()
    batch = torch.tensor([0] * 25 + [2] * 5 + [3] * 30)  # ids with a gap
    table = knn_table(x, batch, 6)
    for i, expected in enumerate(reference_neighbours(x, batch, 6)):
        got = table.neighbors[i][table.valid[i]].tolist()
        assert got[0] == i and len(set(got)) == len(got) and bool((batch[got] == batch[i]).all())
        distance = ((x[got] - x[i]) ** 2).sum(-1).sort().values
        assert torch.equal(distance, ((x[expected] - x[i]) ** 2).sum(-1).sort().values), i


def test_knn_table_in_row_chunks_is_the_same(monkeypatch) -> None:
    graph = random_batch([70, 3, 45], 0.0, 3, seed=9)
    whole = knn_table(graph.x, graph.batch, 8)
    monkeypatch.setattr(knn, "_CHUNK_ELEMENTS", 3 * 70 * 8)  # blocks of 8 rows
    chunked = knn_table(graph.x, graph.batch, 8)
    assert torch.equal(chunked.neighbors, whole.neighbors)
    assert torch.equal(chunked.valid, whole.valid)


def test_knn_table_of_no_nodes() -> None:
    table = knn_table(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), 4)
    assert table.neighbors.shape == (0, 4) and table.valid.shape == (0, 4)


def test_knn_table_unsorted_batch_is_a_clear_error() -> None:
    with pytest.raises(
        ValueError, match=r"`batch` must be sorted .* batch\[2\] = 0 < batch\[1\] = 1"
    ):
        knn_table(torch.zeros(3, 2), torch.tensor([0, 1, 0]), 2)


def mlp() -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5))


@pytest.mark.parametrize("aggr", ["max", "mean", "add"])
@pytest.mark.parametrize("graph", CASES, ids=lambda g: g.name)
def test_dynamic_edge_conv_matches_reference(aggr: str, graph) -> None:
    torch.manual_seed(0)
    conv = DynamicEdgeConv(mlp(), k=8, aggr=aggr)
    with torch.no_grad():
        out = conv(graph.x, graph.batch)
        ref = dynamic_edge_conv_reference(conv.nn, graph.x, graph.batch, 8, aggr)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("graph", CASES, ids=lambda g: g.name)
def test_gravnet_matches_reference(graph) -> None:
    torch.manual_seed(0)
    conv = GravNetConv(4, 6, space_dimensions=3, propagate_dimensions=5, k=8)
    with torch.no_grad():
        torch.testing.assert_close(
            conv(graph.x, graph.batch), gravnet_reference(conv, graph.x, graph.batch),
            atol=1e-5, rtol=0,
        )  # fmt: skip


def test_parameter_names_are_pyg_names() -> None:
    conv = GravNetConv(4, 6, space_dimensions=3, propagate_dimensions=5, k=8)
    # As in torch_geometric/nn/conv/gravnet_conv.py (2.8.1).
    assert sorted(conv.state_dict()) == sorted(
        [
            "lin_s.weight", "lin_s.bias", "lin_h.weight", "lin_h.bias",
            "lin_out1.weight", "lin_out2.weight", "lin_out2.bias",
        ]
    )  # fmt: skip
    assert repr(conv) == "GravNetConv(4, 6, k=8)"
    assert sorted(DynamicEdgeConv(mlp(), k=3).state_dict())[0] == "nn.0.bias"


class _WithBatch(torch.nn.Module):
    def __init__(self, conv: torch.nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        return self.conv(x, batch)


@pytest.mark.parametrize("layer", ["gravnet", "dynamic_edge_conv"])
def test_onnx_is_exact_on_any_threads(layer: str) -> None:
    torch.manual_seed(1)
    if layer == "gravnet":
        conv: torch.nn.Module = GravNetConv(4, 6, space_dimensions=3, propagate_dimensions=5, k=8)
    else:
        conv = DynamicEdgeConv(mlp(), k=8, aggr="max")
    module = _WithBatch(conv).eval()
    example = random_batch([6, 5], 0.0, 4, seed=0)
    model = export_model(
        module, {"x": example.x, "batch": example.batch}, {"x": {0: "N"}, "batch": {0: "N"}}
    )
    large = random_batch([150, 90, 3, 200], 0.0, 4, seed=5, name="large")
    inputs = [{"x": graph.x, "batch": graph.batch} for graph in [*CASES, large]]
    assert_exact_on_any_threads(model, module, inputs)
