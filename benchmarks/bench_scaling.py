"""Scaling curves of every inference backend: latency p50/p99 against nodes per graph, graphs
per call and threads, and the peak RSS of each backend.

* nodes per graph: one graph per call of 50 to 5,000 nodes;
* graphs per call: 1 to 1,000 graphs of 50 nodes in one ragged batch;
* threads: ONNX Runtime intra-op threads 1, 2 and all cores, on an event of 10 graphs of
  100 nodes (the exported models are exact on any thread count).

Backends: ``onnxruntime`` (Python), ``native`` (e2e_gnn's C++ runtime through its bindings)
and ``triton`` (a tritonserver on 127.0.0.1 started here when one is installed, see
scripts/install_triton.sh; gRPC; one python-backend entry per thread count). Each backend
runs in its own process so that its peak RSS is its own; for triton it is the server's and
its python-backend stubs' (the client's is given apart). Latency is wall time per call,
after 2 warm-up calls; next to it ``cpu_ms`` is the CPU time per call (this process; for
triton also the server's), which a loaded machine does not inflate: on a shared machine the
scheduler preempts a busy process in the middle of a call of a few ms, so wall latency there
measures the load as much as the backend. Inputs are random features with the model's own
kNN graphs.

The model: EdgeConvTagger's default (hidden 64, 3 EdgeConv, mean aggregation) on the toy
jets' features, exported here (parity-checked); ``--model`` takes another exported file,
``--quick`` uses the tiny GNN of the Triton tests.

Usage: python benchmarks/bench_scaling.py [--calls 30] [--backends onnxruntime native triton]
       [--quick]
Writes benchmarks/results/scaling.json and scaling_{nodes,graphs,threads}.png.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import _common
from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.model_file import ModelFile

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "triton" / "data" / "tiny_gnn.onnx"
BACKENDS = ("onnxruntime", "native", "triton")
NODES = (50, 150, 500, 1000, 2000, 5000)
GRAPHS = (1, 10, 100, 1000)
THREADS = sorted({1, 2, os.cpu_count() or 1})
EVENT = (10, 100)  # graphs, nodes per graph: the threads sweep
Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def export_default(path: Path) -> Path:
    """EdgeConvTagger's default exported with e2e_gnn's export and parity check."""
    import torch

    from e2e_gnn.export import export_onnx
    from e2e_gnn.export.parity import default_example
    from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
    from e2e_gnn.nn.models import EdgeConvTagger
    from e2e_gnn.spec import ModelSpec

    torch.manual_seed(0)
    model = EdgeConvTagger(len(TOY_GRAPH_SPEC.feature_names)).eval()
    spec = ModelSpec("scaling", "EdgeConvTagger", model.hyperparameters, graph=TOY_GRAPH_SPEC)
    export_onnx(model, spec, path, default_example(spec))
    return path


def inputs(model: Path, graphs: int, nodes: int, seed: int) -> dict[str, np.ndarray]:
    """``graphs`` graphs of ``nodes`` random nodes, edges built as the model's spec says."""
    spec = ModelFile.read(model).spec.graph
    assert spec is not None, f"{model} is not a graph model"
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(graphs * nodes, len(spec.feature_names))).astype(np.float32)
    ptr = np.arange(graphs + 1, dtype=np.int64) * nodes
    return graphs_from_spec(x, ptr, spec).inputs()


@contextmanager
def runners(
    backend: str, model: Path
) -> Iterator[tuple[dict[int, Run], Callable[[], float], Callable[[], Any]]]:
    """One run function per thread count, a CPU clock (seconds) covering the backend's
    processes, and a function giving the backend's peak RSS."""
    if backend != "triton":
        from e2e_gnn.runtime.backends import BACKENDS as CLASSES

        runs = {t: CLASSES[backend](model, threads=t).run for t in THREADS}
        yield runs, time.process_time, lambda: round(_common.peak_rss_mb(), 1)
        return
    from e2e_gnn.runtime.triton_backend import TritonBackend
    from e2e_gnn.triton import Deployment, TritonServer, write_repository

    with tempfile.TemporaryDirectory() as repo:
        for t in THREADS:
            deployment = Deployment(intra_op_threads=t)
            write_repository(model, repo, name=f"t{t}", variants=("python",), deployment=deployment)
        with TritonServer(repo) as server:
            clients = {
                t: TritonBackend(
                    model, url=server.grpc_url, protocol="grpc", model_name=f"t{t}_python"
                )
                for t in THREADS
            }
            try:
                pid = server.pid
                assert pid is not None
                yield (
                    {t: client.run for t, client in clients.items()},
                    lambda: time.process_time() + _common.tree_cpu_s(pid),
                    lambda: {
                        "server": _common.tree_peak_rss_mb(server.pid),
                        "client": round(_common.peak_rss_mb(), 1),
                    },
                )
            finally:
                for client in clients.values():
                    client.close()


def point(
    run: Run, feed: dict[str, np.ndarray], calls: int, cpu: Callable[[], float]
) -> dict[str, float]:
    """Wall latency percentiles of ``calls`` calls and their mean CPU time (ms per call)."""
    timer = _common.timer(lambda: run(feed))
    for _ in range(2):  # warm-up: first-run work, connections
        timer()
    start = cpu()
    samples = _common.interleaved({0: timer}, calls, warmup=0)[0]
    return {**_common.latency(samples), "cpu_ms": round((cpu() - start) / calls * 1e3, 4)}


def sweep(backend: str, args: Any) -> dict[str, Any]:
    """Every curve of one backend (run in its own process)."""
    curves: dict[str, list[dict[str, Any]]] = {"nodes": [], "graphs": [], "threads": []}
    with runners(backend, args.model) as (runs, cpu, peak_rss):
        one = runs[1]
        for nodes in args.nodes:
            feed = inputs(args.model, 1, nodes, seed=nodes)
            curves["nodes"].append({"nodes": nodes, **point(one, feed, args.calls, cpu)})
        for graphs in args.graphs:
            feed = inputs(args.model, graphs, 50, seed=graphs)
            curves["graphs"].append({"graphs": graphs, **point(one, feed, args.calls, cpu)})
        feed = inputs(args.model, *EVENT, seed=0)
        # a model that is not thread-safe runs on 1 thread whatever is asked (with a warning)
        safe = ModelFile.read(args.model).spec.thread_safe
        for threads, run in runs.items():
            used = {"threads": threads, "threads_used": threads if safe else 1}
            curves["threads"].append({**used, **point(run, feed, args.calls, cpu)})
        rss = peak_rss()
    return {"backend": backend, "curves": curves, "peak_rss_mb": rss}


def plot(results: dict[str, Any], out: Path) -> list[Path]:
    axes_of = {
        "nodes": ("nodes per graph (1 graph per call)", "log"),
        "graphs": ("graphs of 50 nodes per call", "log"),
        "threads": (f"intra-op threads ({EVENT[0]} graphs of {EVENT[1]} nodes)", "linear"),
    }
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for curve, (label, scale) in axes_of.items():
        figure, axis = plt.subplots(figsize=(6, 4))
        for backend, result in results.items():
            rows = result["curves"][curve]
            xs = [row[curve] for row in rows]
            (line,) = axis.plot(xs, [r["p50_ms"] for r in rows], marker="o", label=f"{backend} p50")
            color = line.get_color()
            axis.plot(xs, [r["p99_ms"] for r in rows], ls="--", color=color, label="p99")
            axis.plot(xs, [r["cpu_ms"] for r in rows], ls=":", color=color, label="CPU per call")
        axis.set(xlabel=label, ylabel="ms per call", xscale=scale, yscale="log")
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
        figure.tight_layout()
        path = out / f"scaling_{curve}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--model", type=Path, help="exported model (default: exported here)")
    parser.add_argument("--calls", type=int, default=30, help="timed calls per point")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--nodes", type=int, nargs="+", default=list(NODES))
    parser.add_argument("--graphs", type=int, nargs="+", default=list(GRAPHS))
    parser.add_argument("--backend", choices=BACKENDS, help=argparse.SUPPRESS)
    quick = {
        "model": TINY,
        "calls": 3,
        "backends": ["onnxruntime", "native"],
        "nodes": [50, 500],
        "graphs": [1, 10],
    }
    args = _common.parse(parser, quick)
    bench = _common.Bench("scaling", args)
    if args.backend is not None:  # a child: one backend
        bench.to_parent(sweep(args.backend, args))
    skipped = {}
    if "triton" in args.backends and (why := _common.triton_missing()):
        skipped["triton"] = why
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or export_default(Path(tmp) / "scaling.onnx")
        extra = [] if args.model else ["--model", str(model)]
        results = {
            backend: _common.rerun([*extra, "--backend", backend])
            for backend in args.backends
            if backend not in skipped
        }
    plots = plot(results, args.out)
    if args.model is None:
        described = "EdgeConvTagger default (hidden 64, 3 EdgeConv, mean), exported here"
    else:
        described = str(
            args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model
        )
    bench.write(
        {
            "model": described,
            "calls_per_point": args.calls,
            "skipped": skipped,
            "plots": [p.name for p in plots],
            "backends": results,
        },
        onnxruntime_intra_op=1,
    )
    for backend, result in results.items():
        print(f"{backend}: peak RSS {result['peak_rss_mb']} MB")
        for curve, rows in result["curves"].items():
            cells = ", ".join(
                f"{row[curve]}: {row['p50_ms']:.2f}/{row['p99_ms']:.2f}/{row['cpu_ms']:.2f}"
                for row in rows
            )
            print(f"  {curve} (p50/p99/CPU ms): {cells}")


if __name__ == "__main__":
    main()
