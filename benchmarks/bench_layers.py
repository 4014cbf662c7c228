"""Layer speed: e2e_gnn layers exported to ONNX Runtime vs torch_geometric, in one run.

1. The EdgeConv tagger of issue 4: an event of 10 jets of 60-160 nodes, kNN graph (k = 16,
   target-sorted, no self loops, as the graph builders emit it), three EdgeConv layers 64
   wide with mean aggregation, mean+max pooling and a head. Timed: torch_geometric in torch
   eager, torch_geometric exported naively (dynamo, opset 18) in ONNX Runtime, and ours in
   ONNX Runtime with general aggregation and with ``fixed_degree=16``; same weights.
2. Each general-graph layer on a random graph (1,000 nodes, 16,000 edges, 64 features):
   ours in ONNX Runtime vs torch_geometric in torch eager (and exported, for reference).

One thread everywhere (torch.set_num_threads(1), ONNX Runtime intra/inter-op 1). Targets
(issue 4): tagger >= 2x torch_geometric eager and >= 4x torch_geometric exported; every
general layer in ONNX Runtime at least as fast as torch_geometric eager.

Usage: PYTHONPATH=python python benchmarks/bench_layers.py [--repeat 30]
Writes benchmarks/results/layers.json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torch.export import Dim

import e2e_gnn.nn as ours

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import torch_geometric
    import torch_geometric.nn as pyg

RESULTS = Path(__file__).parent / "results" / "layers.json"


def knn_event(num_jets: int, k: int, features: int, seed: int) -> dict[str, torch.Tensor]:
    """x, edge_index (kNN in the first two features, target-sorted) and batch of one event."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(60, 161, (num_jets,), generator=gen).tolist()
    xs, sources, targets, batch, offset = [], [], [], [], 0
    for g, n in enumerate(sizes):
        x = torch.randn(n, features, generator=gen)
        dist = torch.cdist(x[:, :2], x[:, :2])
        dist.fill_diagonal_(float("inf"))
        degree = min(k, n - 1)
        sources.append(dist.topk(degree, dim=1, largest=False).indices.reshape(-1) + offset)
        targets.append(torch.arange(offset, offset + n).repeat_interleave(degree))
        xs.append(x)
        batch.append(torch.full((n,), g, dtype=torch.long))
        offset += n
    edge_index = torch.stack([torch.cat(sources), torch.cat(targets)])
    return {"x": torch.cat(xs), "edge_index": edge_index, "batch": torch.cat(batch)}


class Tagger(torch.nn.Module):
    """EdgeConv blocks, mean+max pooling, MLP head; the conv class is a parameter so the
    torch_geometric and e2e_gnn versions share one state_dict."""

    def __init__(self, conv: Callable[..., torch.nn.Module], pool: Any, **kw: Any) -> None:
        super().__init__()
        widths = [4, 64, 64, 64]

        def mlp(a: int, b: int) -> torch.nn.Sequential:
            return torch.nn.Sequential(
                torch.nn.Linear(a, b), torch.nn.ReLU(), torch.nn.Linear(b, b), torch.nn.ReLU()
            )

        self.convs = torch.nn.ModuleList(
            conv(mlp(2 * a, b), aggr="mean", **kw) for a, b in zip(widths, widths[1:])
        )
        self.head = torch.nn.Sequential(
            torch.nn.Linear(128, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
        )
        self.pool = pool

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor):
        for conv in self.convs:
            x = conv(x, edge_index)
        pooled = torch.cat(
            [self.pool.global_mean_pool(x, batch), self.pool.global_max_pool(x, batch)], -1
        )
        return self.head(pooled)


def export_session(
    module: torch.nn.Module, args: dict[str, torch.Tensor], dynamic: dict[str, dict[int, str]]
) -> ort.InferenceSession:
    dims: dict[str, Dim] = {}
    shapes = {
        name: {axis: dims.setdefault(d, Dim(d, min=0)) for axis, d in dynamic.get(name, {}).items()}
        for name in args
    }
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            module.eval(), (), str(path), kwargs=args, dynamo=True, opset_version=18,
            dynamic_shapes=shapes, external_data=False, verbose=False,
        )  # fmt: skip
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        return ort.InferenceSession(path.read_bytes(), options, providers=["CPUExecutionProvider"])


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def time_ort(session: ort.InferenceSession, args: dict[str, torch.Tensor], repeat: int):
    wanted = {i.name for i in session.get_inputs()}
    feeds = {k: v.numpy() for k, v in args.items() if k in wanted}
    return median_ms(lambda: session.run(None, feeds), repeat), session.run(None, feeds)[0]


def time_torch(module: torch.nn.Module, args: dict[str, torch.Tensor], repeat: int):
    with torch.no_grad():
        return median_ms(lambda: module(**args), repeat), module(**args).numpy()


def bench_tagger(repeat: int) -> list[dict[str, Any]]:
    args = knn_event(10, 16, 4, seed=0)
    dynamic = {"x": {0: "N"}, "edge_index": {1: "E"}, "batch": {0: "N"}}
    torch.manual_seed(0)
    theirs = Tagger(pyg.EdgeConv, pyg).eval()
    general = Tagger(ours.EdgeConv, ours).eval()
    fixed = Tagger(ours.EdgeConv, ours, fixed_degree=16).eval()
    general.load_state_dict(theirs.state_dict())
    fixed.load_state_dict(theirs.state_dict())
    rows = []
    ref_ms, ref = time_torch(theirs, args, repeat)
    rows.append({"variant": "torch_geometric, torch eager", "ms": ref_ms, "max_abs_diff": 0.0})
    for name, module in [
        ("torch_geometric, exported naively, ONNX Runtime", theirs),
        ("e2e_gnn EdgeConv (ScatterND, per-node split), ONNX Runtime", general),
        ("e2e_gnn EdgeConv fixed_degree=16 (no scatter), ONNX Runtime", fixed),
    ]:
        ms, out = time_ort(export_session(module, args, dynamic), args, repeat)
        rows.append({"variant": name, "ms": ms, "max_abs_diff": float(np.abs(out - ref).max())})
    ms, out = time_torch(fixed, args, repeat)
    rows.append(
        {
            "variant": "e2e_gnn EdgeConv fixed_degree=16, torch eager",
            "ms": ms,
            "max_abs_diff": float(np.abs(out - ref).max()),
        }
    )
    for row in rows:
        row["speedup_vs_pyg_eager"] = ref_ms / row["ms"]
    rows[0]["nodes"], rows[0]["edges"] = args["x"].size(0), args["edge_index"].size(1)
    return rows


GENERAL_LAYERS: dict[str, tuple[str, dict[str, Any]]] = {
    "GCNConv": ("GCNConv", {}),
    "GraphConv": ("GraphConv", {}),
    "SAGEConv mean": ("SAGEConv", {}),
    "SAGEConv max": ("SAGEConv", {"aggr": "max"}),
    "GATConv heads=4": ("GATConv", {"heads": 4, "concat": False}),
    "ARMAConv K=3 T=2": ("ARMAConv", {"num_stacks": 3, "num_layers": 2}),
}


def bench_general(repeat: int) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(1)
    n, e, f = 1000, 16000, 64
    args = {
        "x": torch.randn(n, f, generator=gen),
        "edge_index": torch.randint(0, n, (2, e), generator=gen),
    }
    dynamic = {"x": {0: "N"}, "edge_index": {1: "E"}}
    rows = []
    layers: list[tuple[str, torch.nn.Module, torch.nn.Module]] = []
    for name, (cls, kwargs) in GENERAL_LAYERS.items():
        torch.manual_seed(0)
        theirs = getattr(pyg, cls)(f, f, **kwargs).eval()
        mine = getattr(ours, cls)(f, f, **kwargs).eval()
        mine.load_state_dict(theirs.state_dict())
        layers.append((name, theirs, mine))
    for aggr in ("max", "mean"):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(2 * f, f), torch.nn.ReLU())
        theirs = pyg.EdgeConv(net, aggr=aggr).eval()
        mine = ours.EdgeConv(
            torch.nn.Sequential(torch.nn.Linear(2 * f, f), torch.nn.ReLU()), aggr=aggr
        )
        mine.load_state_dict(theirs.state_dict())
        layers.append((f"EdgeConv {aggr}", theirs, mine.eval()))
    for name, theirs, mine in layers:
        pyg_ms, ref = time_torch(theirs, args, repeat)
        ours_ms, out = time_ort(export_session(mine, args, dynamic), args, repeat)
        try:
            pyg_ort_ms, _ = time_ort(export_session(theirs, args, dynamic), args, repeat)
        except Exception as err:  # noqa: BLE001 (recorded in the table)
            pyg_ort_ms = float("nan")
            print(f"torch_geometric {name} did not export: {type(err).__name__}")
        rows.append(
            {
                "layer": name,
                "pyg_eager_ms": pyg_ms,
                "pyg_onnx_ms": pyg_ort_ms,
                "ours_onnx_ms": ours_ms,
                "speedup_vs_pyg_eager": pyg_ms / ours_ms,
                "max_abs_diff": float(np.abs(out - ref).max()),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    repeat = parser.parse_args().repeat
    torch.set_num_threads(1)
    tagger = bench_tagger(repeat)
    general = bench_general(repeat)
    result = {
        "machine": platform.processor() or platform.machine(),
        "versions": {
            "torch": torch.__version__,
            "torch_geometric": torch_geometric.__version__,
            "onnxruntime": ort.__version__,
        },
        "threads": 1,
        "tagger": tagger,
        "general_layers": general,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"EdgeConv tagger, {tagger[0]['nodes']} nodes, {tagger[0]['edges']} edges, 1 thread\n")
    print("| variant | ms | speed-up vs PyG eager | max abs diff |\n|---|---|---|---|")
    for row in tagger:
        print(
            f"| {row['variant']} | {row['ms']:.2f} | {row['speedup_vs_pyg_eager']:.2f}x "
            f"| {row['max_abs_diff']:.1e} |"
        )
    print("\nGeneral-graph layers, 1,000 nodes, 16,000 edges, 64 features, 1 thread\n")
    print(
        "| layer | PyG eager ms | PyG exported, ORT ms | e2e_gnn, ORT ms | speed-up vs PyG eager "
        "| max abs diff |\n|---|---|---|---|---|---|"
    )
    for row in general:
        print(
            f"| {row['layer']} | {row['pyg_eager_ms']:.2f} | {row['pyg_onnx_ms']:.2f} "
            f"| {row['ours_onnx_ms']:.2f} | {row['speedup_vs_pyg_eager']:.2f}x "
            f"| {row['max_abs_diff']:.1e} |"
        )


if __name__ == "__main__":
    main()
