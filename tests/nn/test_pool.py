from __future__ import annotations

import pytest
import torch
import torch_geometric.nn as pyg_nn
from _nn_graphs import corner_cases, random_batch
from _nn_onnx import assert_exact_on_any_threads, export_model

from e2e_gnn.nn import global_add_pool, global_max_pool, global_mean_max_add_pool, global_mean_pool

POOLS = {
    "add": (global_add_pool, pyg_nn.global_add_pool),
    "mean": (global_mean_pool, pyg_nn.global_mean_pool),
    "max": (global_max_pool, pyg_nn.global_max_pool),
}


@pytest.mark.parametrize("name", list(POOLS))
@pytest.mark.parametrize("graph", corner_cases(4), ids=lambda g: g.name)
def test_pool_matches_pyg(name: str, graph) -> None:
    ours, theirs = POOLS[name]
    x = graph.x - 1.0
    torch.testing.assert_close(ours(x, graph.batch), theirs(x, graph.batch), atol=1e-5, rtol=0)


def test_pool_given_size_keeps_empty_graphs_at_zero() -> None:
    x = torch.tensor([[1.0, -2.0], [3.0, -4.0], [-5.0, -6.0]])
    batch = torch.tensor([0, 0, 2])
    assert torch.equal(
        global_max_pool(x, batch, 4), torch.tensor([[3.0, -2], [0, 0], [-5, -6], [0, 0]])
    )
    assert torch.equal(global_mean_pool(x, batch, 4)[0], torch.tensor([2.0, -3.0]))
    assert torch.equal(global_add_pool(x, batch)[2], torch.tensor([-5.0, -6.0]))


def test_mean_max_add_is_concatenation() -> None:
    graph = corner_cases(3)[-3]
    out = global_mean_max_add_pool(graph.x, graph.batch)
    assert out.shape == (3, 9)
    ref = torch.cat([POOLS[k][1](graph.x, graph.batch) for k in ("mean", "max", "add")], -1)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_pool_rejects_mismatched_batch() -> None:
    with pytest.raises(ValueError, match=r"`batch` must be \[N\] with N = x.size\(-2\) = 3"):
        global_mean_pool(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))


class _Readout(torch.nn.Module):
    def forward(self, x: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        return global_mean_max_add_pool(x, batch)


def test_pool_onnx_is_exact_on_any_threads_with_a_dynamic_graph_count() -> None:
    module = _Readout()
    example = {"x": torch.randn(6, 32), "batch": torch.tensor([0, 0, 1, 1, 1, 2])}
    model = export_model(module, example, {"x": {0: "N"}, "batch": {0: "N"}})
    graphs = [*corner_cases(32, seed=5), random_batch([90, 40, 70], 0.0, 32, seed=6)]
    inputs = [{"x": graph.x, "batch": graph.batch} for graph in graphs]
    assert_exact_on_any_threads(model, module, inputs)


@pytest.mark.parametrize("name", list(POOLS))
@pytest.mark.parametrize(
    ("shape", "batch", "size"),
    [
        ((5, 3), None, None),  # one graph
        ((2, 5, 3), None, None),  # leading batch dimension
        ((5,), None, None),  # 1-D features
        ((3, 2), [0, 0, 3], None),  # graphs 1 and 2 without nodes
        ((3, 2), [0, 0, 2], 5),  # trailing empty graphs
        ((2, 4, 2), [1, 1, 0, 3], None),
        ((4,), [1, 1, 0, 3], 6),
    ],
    ids=str,
)
def test_pool_forms_match_pyg(name: str, shape: tuple, batch: list | None, size: int | None):
    ours, theirs = POOLS[name]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(len(shape)))
    index = None if batch is None else torch.tensor(batch)
    out = ours(x, index, size)
    torch.testing.assert_close(out, theirs(x, index, size), atol=1e-6, rtol=0)
