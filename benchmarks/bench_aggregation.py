"""Aggregation in ONNX Runtime: the exact default export vs the ScatterND reductions used
before (issue 12), on 1 and 2 intra-op threads.

1. Each aggregation alone (1,000 rows, 16,000 entries, 64 features): ``scatter`` sum, mean,
   max, ``scatter_softmax``, and the global mean+max pool readout (1,111 nodes, 10 graphs).
2. One EdgeConv layer (mean, 64 -> 64) on a random graph of the same size.
3. The default tagger (``EdgeConvTagger`` of ``e2e_gnn.nn.models``, 3 EdgeConv blocks 64
   wide, mean aggregation, mean+max pooling) on the README event (10 jets, 1,111 nodes,
   17,776 kNN edges), and the same blocks with ``fixed_degree=16``.

For every variant: median ms (interleaved rounds), the largest difference from torch over
5 runs, and whether the 5 runs agreed bit for bit. "scatternd" is the opt-in racy form
(``e2e_gnn.nn.scatternd_aggregation``), "exact" the default. On one thread, each export is
also measured against its own floor (benchmarks/floors.py on the exported model: FLOPs at the
machine's single-thread matmul peak, bytes at its memory bandwidth; ``x_floor``).

Usage: PYTHONPATH=python python benchmarks/bench_aggregation.py [--repeat 20] [--quick]
Writes benchmarks/results/aggregation.json and prints a markdown table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

import _common
import e2e_gnn.nn as ours
import floors
from bench_layers import Tagger, export_bytes, knn_event, op_inputs, time_interleaved
from e2e_gnn.export import racy_reductions
from e2e_gnn.nn.models import EdgeConvTagger

THREADS = (1, 2)
RUNS = 5


class _Op(torch.nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor, src: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        if self.kind == "softmax":
            return ours.scatter_softmax(src, index, x.size(0))
        return ours.scatter(src, index, dim_size=x.size(0), reduce=self.kind)  # type: ignore[arg-type]


class _Readout(torch.nn.Module):
    def forward(self, x: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        return torch.cat([ours.global_mean_pool(x, batch), ours.global_max_pool(x, batch)], -1)


def _exports(
    module: torch.nn.Module, args: dict[str, torch.Tensor], dynamic: dict[str, dict[int, str]]
) -> dict[str, bytes]:
    """The module exported both ways, as serialized ONNX models."""
    models = {}
    for form in ("scatternd", "exact"):
        context = ours.scatternd_aggregation() if form == "scatternd" else contextlib.nullcontext()
        with context:
            models[form] = export_bytes(module, args, dynamic)
    return models


def _session(model: bytes, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _measure(
    name: str,
    module: torch.nn.Module,
    args: dict[str, torch.Tensor],
    dynamic: dict[str, dict[int, str]],
    repeat: int,
    peaks: dict[str, Any],
) -> list[dict[str, Any]]:
    with torch.no_grad():
        reference = module.eval()(**args).numpy()
    models = _exports(module, args, dynamic)
    runners, rows, floor = {}, [], {}
    for form, model in models.items():
        for threads in THREADS:
            session = _session(model, threads)
            wanted = {i.name for i in session.get_inputs()}
            feeds = {k: v.numpy() for k, v in args.items() if k in wanted}
            if form not in floor:
                work = floors.model_floor(model, feeds, peaks)
                floor[form] = {k: v for k, v in work.items() if k != "by_op"}
            runs = [session.run(None, feeds)[0] for _ in range(RUNS)]
            runners[(form, threads)] = lambda s=session, f=feeds: s.run(None, f)[0]
            rows.append(
                {
                    "what": name,
                    "export": form,
                    "threads": threads,
                    "scatter_reductions": len(racy_reductions(onnx.load_from_string(model))),
                    "max_abs_diff_vs_torch": max(float(np.abs(r - reference).max()) for r in runs),
                    "runs_identical": all(np.array_equal(runs[0], r) for r in runs[1:]),
                }
            )
    times = time_interleaved(runners, repeat)  # type: ignore[arg-type]
    for row in rows:
        row["ms"] = times[(row["export"], row["threads"])]  # type: ignore[index]
        if row["threads"] == 1:  # the floor is a single-thread one
            row |= {
                "floor": floor[row["export"]],
                **floors.against(row["ms"], floor[row["export"]]),
            }
    return rows


def cases(repeat: int, peaks: dict[str, Any]) -> dict[str, Callable[[], list[dict[str, Any]]]]:
    """What is measured, by name: each returns its rows (``peaks``: :func:`floors.peaks`)."""
    gen = torch.Generator().manual_seed(2)
    n, e, f = 1000, 16000, 64
    op_args, op_dynamic = op_inputs(gen, n, e, f)
    found: dict[str, Callable[[], list[dict[str, Any]]]] = {
        f"scatter {kind}": lambda kind=kind: _measure(
            f"scatter {kind}", _Op(kind), op_args, op_dynamic, repeat, peaks
        )
        for kind in ("sum", "mean", "max", "softmax")
    }
    event = knn_event(10, 16, 4, seed=0)
    readout_args = {
        "x": torch.randn(event["x"].size(0), 64, generator=gen),
        "batch": event["batch"],
    }
    found["global mean+max pool"] = lambda: _measure(
        "global mean+max pool",
        _Readout(),
        readout_args,
        {"x": {0: "N"}, "batch": {0: "N"}},
        repeat,
        peaks,
    )
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(2 * f, f), torch.nn.ReLU())
    edge_conv = ours.EdgeConv(mlp, aggr="mean")
    random_graph = {
        "x": torch.randn(n, f, generator=gen),
        "edge_index": torch.randint(0, n, (2, e), generator=gen),
    }
    found["EdgeConv mean, random graph"] = lambda: _measure(
        "EdgeConv mean, random graph",
        edge_conv,
        random_graph,
        {"x": {0: "N"}, "edge_index": {1: "E"}},
        repeat,
        peaks,
    )
    dynamic = {"x": {0: "N"}, "edge_index": {1: "E"}, "batch": {0: "N"}}
    torch.manual_seed(0)
    tagger = EdgeConvTagger(4, hidden=64, num_layers=3).eval()
    found["EdgeConvTagger (default)"] = lambda: _measure(
        "EdgeConvTagger (default)", tagger, event, dynamic, repeat, peaks
    )
    fixed = Tagger(ours.EdgeConv, ours, fixed_degree=16).eval()
    found["EdgeConv tagger, fixed_degree=16"] = lambda: _measure(
        "EdgeConv tagger, fixed_degree=16", fixed, event, dynamic, repeat, peaks
    )
    return found


CASES = [
    *(f"scatter {kind}" for kind in ("sum", "mean", "max", "softmax")),
    "global mean+max pool",
    "EdgeConv mean, random graph",
    "EdgeConvTagger (default)",
    "EdgeConv tagger, fixed_degree=16",
]


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=CASES)
    args = _common.parse(parser, {"repeat": 2, "cases": ["scatter sum"]})
    bench = _common.Bench("aggregation", args)
    torch.set_num_threads(1)
    measured = cases(args.repeat, bench.peaks())
    rows = [row for name in args.cases for row in measured[name]()]
    event = knn_event(10, 16, 4, seed=0)
    result = {
        "ops_shape": {"rows": 1000, "entries": 16000, "features": 64},
        "event": {"nodes": event["x"].size(0), "edges": event["edge_index"].size(1)},
        "runs_per_check": RUNS,
        "rows": rows,
    }
    bench.write(result)
    print(
        "| aggregation | export | threads | ms | x floor | scatter reductions "
        "| max abs diff vs torch | 5 runs identical |\n|---|---|---|---|---|---|---|---|"
    )
    for row in rows:
        x_floor = f"{row['x_floor']:.2f}x" if "x_floor" in row else "-"
        print(
            f"| {row['what']} | {row['export']} | {row['threads']} | {row['ms']:.2f} "
            f"| {x_floor} | {row['scatter_reductions']} | {row['max_abs_diff_vs_torch']:.1e} "
            f"| {row['runs_identical']} |"
        )


if __name__ == "__main__":
    main()
