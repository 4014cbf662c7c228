"""In-model kNN (e2e_gnn.nn.knn.knn_table, used by GravNetConv, DynamicEdgeConv and
e2e_gnn.nn.knn_graph) against the whole-batch N x N formulation it replaced and
torch_geometric's knn_graph.

k = 16 neighbours, self included, 3-D uniform random points, one thread, best of --repeat
runs. torch_geometric.nn.knn_graph needs torch_cluster or pyg-lib; when neither is installed
its place is taken by one torch cdist + topk call per graph (what a pure-torch loop does).
Writes benchmarks/results/knn_in_model.json and prints a markdown table.

    python benchmarks/bench_knn_in_model.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort
import torch
from torch import Tensor

from e2e_gnn.nn.knn import knn_table

K = 16
RESULTS = Path(__file__).parent / "results" / "knn_in_model.json"
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
    dim = torch.export.Dim("N", min=0)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = str(Path(tmp) / "knn.onnx")
        example = (torch.randn(11, 3), torch.tensor([0] * 6 + [1] * 5))
        torch.onnx.export(
            _Table(), example, path, dynamo=True, opset_version=18, verbose=False,
            dynamic_shapes=({0: dim}, {0: dim}),
        )  # fmt: skip
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def best_ms(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def measure(
    session: ort.InferenceSession,
    pyg_name: str,
    pyg: Callable[[Tensor, Tensor, list[int]], object],
    pos: Tensor,
    batch: Tensor,
    sizes: list[int],
    repeat: int,
) -> dict[str, float]:
    """Milliseconds per call of every method, after checking ONNX Runtime against eager."""
    feeds = {"pos": pos.numpy(), "batch": batch.numpy()}
    with torch.no_grad():
        assert (session.run(None, feeds)[0] == _Table()(pos, batch).numpy()).all(), sizes
        return {
            "ours eager": best_ms(lambda: knn_table(pos, batch, K), repeat),
            "ours ONNX Runtime": best_ms(lambda: session.run(None, feeds), repeat),
            "N x N eager (before)": best_ms(lambda: whole_batch(pos, batch, K), repeat),
            pyg_name: best_ms(lambda: pyg(pos, batch, sizes), repeat),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    session = onnx_session()
    pyg_name, pyg = pyg_or_per_graph()
    rows: dict[str, dict[str, float]] = {}
    gen = torch.Generator().manual_seed(0)
    for label, sizes in CASES.items():
        pos = torch.rand(sum(sizes), 3, generator=gen)
        batch = torch.cat([torch.full((n,), g) for g, n in enumerate(sizes)])
        rows[label] = measure(session, pyg_name, pyg, pos, batch, sizes, args.repeat)
        print(f"{label}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in rows[label].items()))
    names = list(next(iter(rows.values())))
    lines = ["| graphs x nodes | " + " | ".join(f"{n} (ms)" for n in names) + " |"]
    lines.append("|---" * (len(names) + 1) + "|")
    for label, row in rows.items():
        lines.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in row.values()) + " |")
    print("\n".join(lines))
    meta = {"k": K, "dimensions": 3, "threads": 1, "torch": torch.__version__}
    meta |= {"onnxruntime": ort.__version__, "machine": platform.machine()}
    RESULTS.write_text(json.dumps({"meta": meta, "ms": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
