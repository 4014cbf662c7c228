"""In-model kNN (e2e_gnn.nn.knn.knn_table, used by GravNetConv, DynamicEdgeConv and
e2e_gnn.nn.knn_graph) against the whole-batch N x N formulation it replaced and
torch_geometric's knn_graph.

k = 16 neighbours, self included, 3-D uniform random points, one thread, best of --repeat
runs. torch_geometric.nn.knn_graph needs torch_cluster or pyg-lib; when neither is installed
its place is taken by one torch cdist + topk call per graph (what a pure-torch loop does).
Ours also runs under torch.compile (dynamic shapes, unless --no-compile), and everything is
measured with glibc's default and with the tuned allocator (benchmarks/_common.py).
Writes benchmarks/results/knn_in_model.json and prints a markdown table.

    python benchmarks/bench_knn_in_model.py [--repeat 3] [--no-compile] [--quick]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import onnxruntime as ort
import torch
from torch import Tensor

import _common
import bench_layers
from e2e_gnn.nn.knn import knn_table

K = 16
CASES = {"10 x 100": [100] * 10, "1 x 1000": [1000], "10 x 1000": [1000] * 10, "1 x 10000": [10000]}


def whole_batch(pos: Tensor, batch: Tensor, k: int) -> Tensor:
    """The replaced formulation: N x N distances, +inf across graphs, TopK."""
    square = (pos * pos).sum(-1)
    dist = square.view(-1, 1) + square.view(1, -1) - 2.0 * (pos @ pos.t())
    dist = torch.where(batch.view(-1, 1) == batch.view(1, -1), dist, float("inf"))
    return dist.topk(k, dim=1, largest=False).indices


def pyg_or_per_graph() -> tuple[str, Callable[[Tensor, Tensor, list[int]], object]]:
    try:
        from torch_geometric.nn import knn_graph

        knn_graph(torch.zeros(2, 3), 1)
        return "PyG knn_graph", lambda pos, batch, sizes: knn_graph(pos, K - 1, batch, loop=False)
    except ImportError:

        def per_graph(pos: Tensor, batch: Tensor, sizes: list[int]) -> object:
            return [torch.cdist(p, p).topk(K, largest=False).indices for p in pos.split(sizes)]

        return "torch cdist+topk per graph", per_graph


class _Table(torch.nn.Module):
    def forward(self, pos: Tensor, batch: Tensor) -> Tensor:
        return knn_table(pos, batch, K).neighbors


def onnx_session() -> ort.InferenceSession:
    example = {"pos": torch.randn(11, 3), "batch": torch.tensor([0] * 6 + [1] * 5)}
    dynamic = {"pos": {0: "N"}, "batch": {0: "N"}}
    return bench_layers.session(bench_layers.export_bytes(_Table(), example, dynamic))


def best_ms(run: Callable[[], object], repeat: int) -> float:
    return 1e3 * _common.best(run, repeat)


def measure(
    session: ort.InferenceSession,
    pyg_name: str,
    pyg: Callable[[Tensor, Tensor, list[int]], object],
    pos: Tensor,
    batch: Tensor,
    sizes: list[int],
    repeat: int,
    compiled: torch.nn.Module | None,
) -> dict[str, float]:
    """Milliseconds per call of every method, after checking ONNX Runtime (and
    torch.compile) against eager."""
    feeds = {"pos": pos.numpy(), "batch": batch.numpy()}
    with torch.no_grad():
        expected = _Table()(pos, batch).numpy()
        assert (session.run(None, feeds)[0] == expected).all(), sizes
        peers = {}
        if compiled is not None:
            assert (compiled(pos, batch).numpy() == expected).all(), sizes
            peers["ours torch.compile"] = best_ms(lambda: compiled(pos, batch), repeat)
        return {
            "ours eager": best_ms(lambda: knn_table(pos, batch, K), repeat),
            **peers,
            "ours ONNX Runtime": best_ms(lambda: session.run(None, feeds), repeat),
            "N x N eager (before)": best_ms(lambda: whole_batch(pos, batch, K), repeat),
            pyg_name: best_ms(lambda: pyg(pos, batch, sizes), repeat),
        }


def measure_all(args: Any) -> dict[str, Any]:
    torch.set_num_threads(1)
    session = onnx_session()
    pyg_name, pyg = pyg_or_per_graph()
    compiled = None if args.no_compile else _common.compiled(_Table())
    rows: dict[str, dict[str, float]] = {}
    gen = torch.Generator().manual_seed(0)
    for label, sizes in CASES.items():
        pos = torch.rand(sum(sizes), 3, generator=gen)
        if label not in args.cases:
            continue
        batch = torch.cat([torch.full((n,), g) for g, n in enumerate(sizes)])
        rows[label] = measure(session, pyg_name, pyg, pos, batch, sizes, args.repeat, compiled)
    return {"k": K, "dimensions": 3, "ms": rows}


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="leave out torch.compile")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    quick = {"repeat": 1, "no_compile": True, "cases": ["10 x 100"]}
    args = _common.parse(parser, quick)
    bench = _common.Bench("knn_in_model", args)
    results = bench.by_allocator(lambda: measure_all(args), torch=1, onnxruntime_intra_op=1)
    for setting, result in results.items():
        rows = result["ms"]
        names = list(next(iter(rows.values())))
        lines = [f"\nallocator: {setting}\n"]
        lines.append("| graphs x nodes | " + " | ".join(f"{n} (ms)" for n in names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        for label, row in rows.items():
            lines.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in row.values()) + " |")
        print("\n".join(lines))
    bench.write({"allocators": results}, torch=1, onnxruntime_intra_op=1)


if __name__ == "__main__":
    main()
