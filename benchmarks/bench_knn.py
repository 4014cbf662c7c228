"""kNN graph building: e2e_gnn's native builder against scipy, pykdtree and torch.

k = 16 neighbours (self excluded) in 2-D, one core, uniform random points. The native builder
takes --chunk graphs per call; the alternatives need one call per graph, as
they would in a data loader. Every number is the best of --repeat runs, per graph, in the same
process, once with glibc's default and once with the tuned allocator (benchmarks/_common.py).
The native builder is also measured against the floor of its task (benchmarks/floors.py
``knn_floor``: the positions read and edges written at the machine's memory bandwidth, the
distances of the kept edges at its matmul peak; ``x_floor`` = time / floor), next to what a
brute-force search of every pair would take at the matmul peak.
Writes benchmarks/results/knn.json and prints a markdown table.

    python benchmarks/bench_knn.py [--graphs 10000] [--sample 300] [--repeat 3] [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # pykdtree queries with OpenMP: keep one core

from collections.abc import Callable
from typing import Any

import numpy as np

import _common
import floors
from e2e_gnn.graphs.builders import knn_graph

K = 16


def per_graph_loop(build: Callable[[np.ndarray], object], graphs: list[np.ndarray]):
    def run() -> None:
        for pos in graphs:
            build(pos)

    return run


def alternatives() -> dict[str, Callable[[np.ndarray], object]]:
    import scipy.spatial
    import torch
    from pykdtree.kdtree import KDTree

    torch.set_num_threads(1)

    def ckdtree(pos: np.ndarray) -> object:
        return scipy.spatial.cKDTree(pos).query(pos, k=K + 1)

    def pykdtree(pos: np.ndarray) -> object:
        return KDTree(pos).query(pos, k=K + 1)

    def cdist_topk(pos: np.ndarray) -> object:
        points = torch.from_numpy(pos)
        return torch.cdist(points, points).topk(K + 1, largest=False).indices

    return {"scipy cKDTree": ckdtree, "pykdtree": pykdtree, "torch cdist+topk": cdist_topk}


def native_in_chunks(pos: np.ndarray, ptr: np.ndarray, chunk: int) -> Callable[[], None]:
    """knn_graph on `chunk` graphs per call (bounds the memory of the edge arrays)."""
    calls = []
    for first in range(0, len(ptr) - 1, chunk):
        last = min(first + chunk, len(ptr) - 1)
        calls.append((pos[ptr[first] : ptr[last]], ptr[first : last + 1] - ptr[first]))

    def run() -> None:
        for points, offsets in calls:
            knn_graph(points, offsets, K)

    return run


def measure(
    sizes: np.ndarray, sample: int, repeat: int, chunk: int, rng: np.random.Generator
) -> dict[str, float]:
    """Microseconds per graph for graphs of the given sizes."""
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    pos = rng.random((int(ptr[-1]), 2), dtype=np.float32)
    native = native_in_chunks(pos, ptr, chunk)
    row = {"native": _common.best(native, repeat) / len(sizes) * 1e6}
    graphs = [pos[ptr[g] : ptr[g + 1]] for g in range(min(sample, len(sizes)))]
    for name, build in alternatives().items():
        row[name] = _common.best(per_graph_loop(build, graphs), repeat) / len(graphs) * 1e6
    return row


def measure_all(args: Any, peaks: dict[str, Any]) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    classes = {
        "50": np.full(args.graphs, 50),
        "150": np.full(args.graphs, 150),
        "1000": np.full(args.graphs, 1000),
        "50-1000 mixed": rng.integers(50, 1001, args.graphs),
    }
    rows, floor = {}, {}
    for label, sizes in classes.items():
        rows[label] = measure(sizes, args.sample, args.repeat, args.chunk, rng)
        task = floors.knn_floor(sizes, K, 2, peaks)
        floor[label] = {**task, **floors.against(rows[label]["native"] / 1e3, task)}
    return {
        "k": K,
        "dimensions": 2,
        "threads": 1,
        "graphs_native": args.graphs,
        "graphs_per_native_call": args.chunk,
        "graphs_alternatives": args.sample,
        "us_per_graph": rows,
        "speed_up_vs_fastest_alternative": {
            label: min(v for k, v in row.items() if k != "native") / row["native"]
            for label, row in rows.items()
        },
        "native_vs_floor": floor,
    }


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--graphs", type=int, default=10_000, help="graphs per size class")
    parser.add_argument("--sample", type=int, default=300, help="graphs timed per alternative")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=1000, help="graphs per native call")
    args = _common.parse(parser, {"graphs": 40, "sample": 5, "repeat": 1})
    bench = _common.Bench("knn", args)
    results = bench.by_allocator(lambda: measure_all(args, bench.peaks()), knn=1, torch=1)
    for setting, result in results.items():
        rows = result["us_per_graph"]
        names = list(next(iter(rows.values())))
        lines = [
            f"\nallocator: {setting}\n",
            "| nodes per graph | "
            + " | ".join(f"{n} (us/graph)" for n in names)
            + " | speed-up | x floor |",
            "|---" * (len(names) + 3) + "|",
        ]
        for label, row in rows.items():
            speedup = result["speed_up_vs_fastest_alternative"][label]
            cells = " | ".join(f"{row[n]:.1f}" for n in names)
            x_floor = result["native_vs_floor"][label]["x_floor"]
            lines.append(f"| {label} | {cells} | {speedup:.1f}x | {x_floor:.1f}x |")
        print("\n".join(lines))
    bench.write({"allocators": results}, knn=1, torch=1)


if __name__ == "__main__":
    main()
