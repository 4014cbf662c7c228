from __future__ import annotations

import pytest
import torch
from _nn_onnx import assert_exact_on_any_threads, export_model, max_error, open_session
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.utils import scatter as pyg_scatter
from torch_geometric.utils import softmax as pyg_softmax

from e2e_gnn.export import racy_reductions
from e2e_gnn.nn import scatter, scatter_softmax, scatternd_aggregation
from e2e_gnn.nn.scatter import gather

REDUCTIONS = ["sum", "mean", "max", "min"]


def loop_reference(src: torch.Tensor, index: torch.Tensor, size: int, reduce: str) -> torch.Tensor:
    """Row by row, with nothing shared with the code under test."""
    rows = []
    for i in range(size):
        picked = src[index == i]
        if picked.size(0) == 0:
            rows.append(torch.zeros(src.shape[1:]))
        elif reduce == "sum":
            rows.append(picked.sum(0))
        elif reduce == "mean":
            rows.append(picked.mean(0))
        elif reduce == "max":
            rows.append(picked.max(0).values)
        else:
            rows.append(picked.min(0).values)
    return torch.stack(rows) if rows else torch.zeros((0, *src.shape[1:]))


CASES = {
    "empty": (0, 5),
    "one_entry": (1, 5),
    "duplicates": (40, 3),
    "many_rows_few_entries": (6, 20),
}


@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("case", list(CASES))
def test_scatter_matches_loop_and_pyg(reduce: str, case: str) -> None:
    num, size = CASES[case]
    gen = torch.Generator().manual_seed(num * 7 + size)
    src = torch.randn(num, 4, generator=gen) - 2.0  # mostly negative: a 0 prefill would show
    index = torch.randint(0, size, (num,), generator=gen)
    out = scatter(src, index, dim_size=size, reduce=reduce)  # type: ignore[arg-type]
    torch.testing.assert_close(out, loop_reference(src, index, size, reduce), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        out, pyg_scatter(src, index, 0, dim_size=size, reduce=reduce), atol=1e-6, rtol=0
    )


def test_scatter_3d_values_and_tensor_size() -> None:
    src = torch.randn(10, 2, 3)
    index = torch.tensor([0, 1, 1, 3, 3, 3, 0, 1, 3, 3])
    out = scatter(src, index, dim_size=torch.tensor(5), reduce="max")
    assert out.shape == (5, 2, 3)
    torch.testing.assert_close(out[3], src[index == 3].max(0).values)
    assert torch.equal(out[2], torch.zeros(2, 3)) and torch.equal(out[4], torch.zeros(2, 3))


def test_scatter_softmax_matches_pyg() -> None:
    gen = torch.Generator().manual_seed(3)
    src = torch.randn(30, 2, generator=gen) * 10
    index = torch.randint(0, 8, (30,), generator=gen)
    out = scatter_softmax(src, index, 8)
    torch.testing.assert_close(out, pyg_softmax(src, index, num_nodes=8), atol=1e-6, rtol=0)
    sums = loop_reference(out, index, 8, "sum")
    present = torch.zeros(8, dtype=torch.bool)
    present[index] = True
    torch.testing.assert_close(sums[present], torch.ones_like(sums[present]), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"index": torch.zeros(2, 3, dtype=torch.long)}, ValueError, "one-dimensional"),
        ({"index": torch.zeros(6)}, TypeError, "int64"),
        ({"index": torch.zeros(5, dtype=torch.long)}, ValueError, "same size in dim 0"),
        ({"reduce": "prod"}, ValueError, "'prod'"),
        ({"dim_size": torch.tensor([3])}, ValueError, "0-d tensor"),
    ],
)
def test_scatter_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    args = {"src": torch.randn(6, 2), "index": torch.zeros(6, dtype=torch.long), "dim_size": 3}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        scatter(**args)


class _AllReductions(torch.nn.Module):
    def forward(self, x: torch.Tensor, src: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        n = x.size(0)
        parts = [scatter(src, index, dim_size=n, reduce=r) for r in REDUCTIONS]  # type: ignore[arg-type]
        parts.append(scatter(scatter_softmax(src, index, n), index, dim_size=n))
        return torch.cat(parts, dim=-1)


def test_scatter_onnx_is_exact_on_any_thread_count() -> None:
    module = _AllReductions()
    example = {
        "x": torch.randn(5, 1),
        "src": torch.randn(9, 32),
        "index": torch.tensor([0, 0, 1, 1, 1, 3, 3, 4, 0]),
    }
    model = export_model(module, example, {"x": {0: "N"}, "src": {0: "E"}, "index": {0: "E"}})
    gen = torch.Generator().manual_seed(0)
    cases = []
    # rows of 32 floats and many updates per row: what ScatterND(add/max) loses on 2 threads
    for n, e in [(5, 0), (1, 0), (1, 3), (7, 200), (3, 500), (300, 6000)]:
        cases.append(
            {
                "x": torch.randn(n, 1, generator=gen),
                "src": torch.randn(e, 32, generator=gen) / 4 - 0.05,
                "index": torch.randint(0, n, (e,), generator=gen),
            }
        )
    # one run far longer than the others (chunks capped at 64 entries, many per run) next
    # to runs of one entry, shuffled: a pooled batch with one large graph (small values:
    # torch's own float32 sum of 1,100 is what limits the 1e-5 parity)
    skewed = torch.cat([torch.zeros(1100, dtype=torch.long), torch.arange(1, 200)])
    cases.append(
        {
            "x": torch.randn(200, 1, generator=gen),
            "src": torch.randn(skewed.numel(), 32, generator=gen) / 8,
            "index": skewed[torch.randperm(skewed.numel(), generator=gen)],
        }
    )
    assert_exact_on_any_threads(model, module, cases)


def test_scatternd_aggregation_is_the_explicit_racy_opt_in() -> None:
    module = _AllReductions()
    example = {"x": torch.randn(5, 1), "src": torch.randn(9, 3), "index": torch.tensor([0] * 9)}
    with scatternd_aggregation():
        model = export_model(module, example, {"x": {0: "N"}, "src": {0: "E"}, "index": {0: "E"}})
    kinds = sorted({entry.split(": ")[1] for entry in racy_reductions(model)})
    assert kinds == ["ScatterND(add)", "ScatterND(max)", "ScatterND(min)"]
    args = {
        "x": torch.randn(7, 1),
        "src": torch.randn(200, 3),
        "index": torch.randint(0, 7, (200,)),
    }
    assert max_error(open_session(model), module, args) <= 1e-5


def test_gather_is_indexing() -> None:
    src = torch.randn(6, 2, 3)
    index = torch.tensor([[5, 0], [2, 2], [1, 4]])
    assert torch.equal(gather(src, index), src[index])


@settings(max_examples=60, deadline=None)
@given(
    num=st.integers(0, 30),
    size=st.integers(1, 8),
    reduce=st.sampled_from(REDUCTIONS),
    seed=st.integers(0, 2**16),
)
def test_scatter_property(num: int, size: int, reduce: str, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    src = torch.randn(num, 2, generator=gen) * 3
    index = torch.randint(0, size, (num,), generator=gen)
    out = scatter(src, index, dim_size=size, reduce=reduce)  # type: ignore[arg-type]
    torch.testing.assert_close(out, loop_reference(src, index, size, reduce), atol=1e-5, rtol=0)
