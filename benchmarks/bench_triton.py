"""Triton vs local inference: throughput and p50/p99 latency, same graphs, same run.

For 1, 10 and 100 graphs per request and 1 or 8 requests in flight, each backend scores the
same pre-built requests (toy jets with the training kNN, ragged batching, no padding):

* ``triton-grpc`` / ``triton-http``: e2e_gnn's TritonBackend against a real tritonserver
  started here on 127.0.0.1 (python-backend model running onnxruntime: the only backend of the
  CPU server in the nvidia-pytriton wheel);
* ``onnxruntime``: local Python onnxruntime, one session shared by the threads;
* ``native``: e2e_gnn's C++ runtime, when its module is built.

Requests in flight = threads, each sending its next request when the last one returned.
Writes benchmarks/results/triton.json. Usage::

    python benchmarks/bench_triton.py [--requests 300] [--nodes 50] [--instances 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, graphs_from_features, random_features
from e2e_gnn.runtime.backends import NativeBackend, OnnxRuntimeBackend
from e2e_gnn.runtime.triton_backend import TritonBackend
from e2e_gnn.triton import Deployment, TritonServer, write_repository

ROOT = Path(__file__).resolve().parents[1]
GRAPHS_PER_REQUEST = (1, 10, 100)
IN_FLIGHT = (1, 8)

Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def make_requests(
    count: int, graphs: int, nodes: int, rng: np.random.Generator
) -> list[dict[str, np.ndarray]]:
    """``count`` requests of ``graphs`` toy jets each (sizes around ``nodes``)."""
    width = len(TOY_GRAPH_SPEC.feature_names)
    requests = []
    for _ in range(count):
        sizes = rng.integers(max(1, nodes // 2), nodes * 3 // 2 + 1, size=graphs).tolist()
        requests.append(graphs_from_features(random_features(rng, sizes, width), TOY_GRAPH_SPEC))
    return [batch.inputs() for batch in requests]


def measure(run: Run, requests: list[dict[str, np.ndarray]], in_flight: int) -> dict[str, float]:
    """Latency percentiles (ms) and throughput (requests/s) of ``run`` over ``requests``."""
    for request in requests[:5]:
        run(request)  # warm up sessions and connections

    def timed(request: dict[str, np.ndarray]) -> float:
        start = time.perf_counter()
        run(request)
        return time.perf_counter() - start

    start = time.perf_counter()
    if in_flight == 1:
        latencies = [timed(r) for r in requests]
    else:
        with ThreadPoolExecutor(in_flight) as pool:
            latencies = list(pool.map(timed, requests))
    wall = time.perf_counter() - start
    ms = np.asarray(latencies) * 1e3
    return {
        "requests": len(requests),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "requests_per_s": round(len(requests) / wall, 1),
    }


def local_backends(model: Path) -> dict[str, Run]:
    """Local onnxruntime, and the native runtime when it is built."""
    backends: dict[str, Run] = {"onnxruntime": OnnxRuntimeBackend(model).run}
    try:
        backends["native"] = NativeBackend(model).run
    except ImportError as err:
        print(f"native backend skipped: {err}")
    return backends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "tests/triton/data/tiny_gnn.onnx")
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement")
    parser.add_argument("--nodes", type=int, default=50, help="typical nodes per graph")
    parser.add_argument("--instances", type=int, default=1, help="Triton model instances")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/triton.json")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    results = []
    with tempfile.TemporaryDirectory() as repo:
        write_repository(
            args.model,
            repo,
            name="bench",
            variants=("python",),
            deployment=Deployment(count=args.instances),
        )
        with TritonServer(repo) as server:
            backends = local_backends(args.model)
            clients = {
                "triton-grpc": TritonBackend(args.model, url=server.grpc_url, protocol="grpc"),
                "triton-http": TritonBackend(args.model, url=server.http_url, protocol="http"),
            }
            backends.update({name: client.run for name, client in clients.items()})
            for graphs in GRAPHS_PER_REQUEST:
                count = max(20, args.requests // (1 if graphs < 100 else 4))
                requests = make_requests(count, graphs, args.nodes, rng)
                for in_flight in IN_FLIGHT:
                    for name, run in backends.items():
                        row = {
                            "backend": name,
                            "graphs_per_request": graphs,
                            "in_flight": in_flight,
                            **measure(run, requests, in_flight),
                        }
                        row["graphs_per_s"] = round(row["requests_per_s"] * graphs, 1)
                        results.append(row)
                        print(json.dumps(row))
            for client in clients.values():
                client.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "bench_triton",
        "model": str(
            args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model
        ),
        "nodes_per_graph": args.nodes,
        "triton_instances": args.instances,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "server": "tritonserver (nvidia-pytriton CPU build), python backend + onnxruntime",
        "results": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
