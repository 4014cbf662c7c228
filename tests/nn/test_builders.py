"""knn_graph / radius_graph: torch_geometric's output format (torch_cluster is not
installed, so the reference is a brute-force per-graph search) and exact ONNX round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _nn_graphs import knn_batch, random_batch
from _nn_onnx import export_model, open_session

from e2e_gnn.nn import knn_graph, radius_graph

SIZES = [[1], [2], [7, 1, 12], [30, 3, 25], [60]]


@pytest.mark.parametrize("sizes", SIZES, ids=str)
@pytest.mark.parametrize("loop", [False, True])
def test_knn_graph_matches_brute_force(sizes: list[int], loop: bool) -> None:
    ref = knn_batch(sizes, 4, 3, seed=sum(sizes), loop=loop)
    out = knn_graph(ref.x, 4, ref.batch, loop=loop)
    assert torch.equal(out, ref.edge_index)
    flipped = knn_graph(ref.x, 4, ref.batch, loop=loop, flow="target_to_source")
    assert torch.equal(flipped, ref.edge_index.flip(0))


def radius_reference(x: torch.Tensor, batch: torch.Tensor, r: float, loop: bool, cap: int):
    sources, targets = [], []
    for i in range(x.size(0)):
        dist = (x - x[i]).pow(2).sum(-1)
        ok = (batch == batch[i]) & (dist <= r * r)
        if not loop:
            ok[i] = False
        candidates = ok.nonzero().view(-1)
        candidates = candidates[dist[candidates].argsort(stable=True)][:cap]
        sources.append(candidates)
        targets.append(torch.full_like(candidates, i))
    return torch.stack([torch.cat(sources), torch.cat(targets)])


@pytest.mark.parametrize("sizes", SIZES, ids=str)
@pytest.mark.parametrize(("loop", "cap"), [(False, 32), (True, 32), (False, 3)])
def test_radius_graph_matches_brute_force(sizes: list[int], loop: bool, cap: int) -> None:
    graph = random_batch(sizes, 0.0, 2, seed=len(sizes))
    out = radius_graph(graph.x, 1.0, graph.batch, loop=loop, max_num_neighbors=cap)
    ref = radius_reference(graph.x, graph.batch, 1.0, loop, cap)
    assert torch.equal(out, ref)


class _Builders(torch.nn.Module):
    def forward(self, x: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        return torch.cat([knn_graph(x, 4, batch), radius_graph(x, 1.0, batch, loop=True)], 1)


def test_builders_onnx_round_trip() -> None:
    example = random_batch([5, 4], 0.0, 2, seed=0)
    model = export_model(
        _Builders(), {"x": example.x, "batch": example.batch}, {"x": {0: "N"}, "batch": {0: "N"}}
    )
    session = open_session(model, threads=2)
    for sizes in [*SIZES, [200, 300]]:
        graph = random_batch(sizes, 0.0, 2, seed=len(sizes) + 1)
        got = session.run(None, {"x": graph.x.numpy(), "batch": graph.batch.numpy()})[0]
        assert np.array_equal(got, _Builders()(graph.x, graph.batch).numpy()), sizes


def test_cosine_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="cosine=True is not supported"):
        knn_graph(torch.zeros(3, 2), 2, cosine=True)
