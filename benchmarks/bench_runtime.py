"""Native runtime speed: one model, the same events of ~10 jets, every inference path.

Paths, per event (inference on the same prebuilt kNN graphs unless said otherwise):
  native batched        e2e_gnn's C++ Tagger, all jets of the event in ONE call
  native per jet        the C++ Tagger, one call per jet (what CMSSW did before batching)
  native hits->scores   C++ kNN graph building from raw hits + one call (the plugin's path)
  onnxruntime batched   Python onnxruntime, one call per event
  onnxruntime per jet   Python onnxruntime, one call per jet
  torch eager batched   the PyTorch model, one call per event (no_grad)
plus a small-graph case (single jets of 6-12 hits, one call each) where per-call overhead
dominates. Native calls go through the pybind11 bindings, so their times include the
binding overhead a C++ caller does not pay. Everything runs on one thread (ONNX Runtime
intra-op threads 1, torch.set_num_threads(1)) and is timed in CPU time of this process
(time.process_time: robust on a machine shared with other jobs), best of --repeats.

Targets (issue 6): native batched >= 4x native per jet; native faster than Python
onnxruntime on small graphs; native >= 3x torch eager.

Two model sizes are measured in the same run: batching pays most when the per-call cost of
ONNX Runtime (about a hundred operators to launch) is large next to the per-jet compute.

Usage: python benchmarks/bench_runtime.py [--events 40] [--repeats 5]
Writes benchmarks/results/runtime.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from e2e_gnn._native_loader import load_native
from e2e_gnn.export import export_onnx
from e2e_gnn.export.parity import default_example
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, graphs_from_features, toy_jets
from e2e_gnn.nn.models import EdgeConvTagger, Scores
from e2e_gnn.spec import ModelSpec

RESULTS = Path(__file__).resolve().parent / "results" / "runtime.json"


def best_time(run: Callable[[], object], items: int, repeats: int) -> float:
    """Best CPU time per item (microseconds) of `repeats` runs over all items."""
    run()  # warm up: allocations, ONNX Runtime's first-run work
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times) / items * 1e6


MODELS = {"small (hidden 16, 2 EdgeConv)": (16, 2), "medium (hidden 32, 3 EdgeConv)": (32, 3)}


def measure(args: argparse.Namespace, hidden: int, num_layers: int) -> dict[str, object]:
    torch.manual_seed(0)
    model = EdgeConvTagger(len(TOY_GRAPH_SPEC.feature_names), hidden=hidden, num_layers=num_layers)
    model.eval()
    spec = ModelSpec("bench_tagger", "EdgeConvTagger", model.hyperparameters, graph=TOY_GRAPH_SPEC)
    scored = Scores(model).eval()
    native = load_native()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tagger.onnx"
        export_onnx(model, spec, path, default_example(spec))
        tagger = native.Tagger(str(path))
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    jets = toy_jets(args.events * args.jets_per_event, seed=1)
    features = [jets.graph(g)[0] for g in range(jets.num_graphs)]
    events = [
        features[e * args.jets_per_event : (e + 1) * args.jets_per_event]
        for e in range(args.events)
    ]
    batched = [graphs_from_features(event, TOY_GRAPH_SPEC).inputs() for event in events]
    per_jet = [[graphs_from_features([jet], TOY_GRAPH_SPEC).inputs() for jet in e] for e in events]
    hits = [
        (np.concatenate(e), np.cumsum([0] + [len(j) for j in e]).astype(np.int64)) for e in events
    ]
    small = [
        np.random.default_rng(s).normal(size=(6 + s % 7, 4)).astype(np.float32) for s in range(200)
    ]
    small_graphs = [graphs_from_features([x], TOY_GRAPH_SPEC).inputs() for x in small]
    torch_batched = [tuple(map(torch.from_numpy, b.values())) for b in batched]

    # Same scores on every path before timing anything.
    for b, t in zip(batched[:3], torch_batched[:3], strict=False):
        with torch.no_grad():
            reference = scored(*t).numpy()
        assert np.allclose(tagger.run(**b)["scores"], reference, atol=1e-5, rtol=0)
        assert np.allclose(session.run(["scores"], b)[0], reference, atol=1e-5, rtol=0)

    def torch_run() -> None:
        with torch.no_grad():
            for t in torch_batched:
                scored(*t)

    n, r = args.events, args.repeats
    us = {
        "native batched": best_time(lambda: [tagger.run(**b) for b in batched], n, r),
        "native per jet": best_time(lambda: [tagger.run(**g) for e in per_jet for g in e], n, r),
        "native hits->scores": best_time(lambda: [tagger.tag_nodes(x, p) for x, p in hits], n, r),
        "onnxruntime batched": best_time(
            lambda: [session.run(["scores"], b) for b in batched], n, r
        ),
        "onnxruntime per jet": best_time(
            lambda: [session.run(["scores"], g) for e in per_jet for g in e], n, r
        ),
        "torch eager batched": best_time(torch_run, n, r),
        "native small graph": best_time(lambda: [tagger.run(**g) for g in small_graphs], 200, r),
        "onnxruntime small graph": best_time(
            lambda: [session.run(["scores"], g) for g in small_graphs], 200, r
        ),
    }
    speedups = {
        "native batched vs native per jet (target >= 4)": us["native per jet"]
        / us["native batched"],
        "native vs onnxruntime, small graph (target > 1)": us["onnxruntime small graph"]
        / us["native small graph"],
        "native vs onnxruntime, batched event": us["onnxruntime batched"] / us["native batched"],
        "native vs torch eager, batched event (target >= 3)": us["torch eager batched"]
        / us["native batched"],
    }
    nodes = [len(b["x"]) for b in batched]
    result = {
        "model": {"class": "EdgeConvTagger", **model.hyperparameters, "k": TOY_GRAPH_SPEC.k},
        "events": n,
        "jets_per_event": args.jets_per_event,
        "mean_nodes_per_event": float(np.mean(nodes)),
        "threads": 1,
        "clock": "time.process_time, best of repeats",
        "repeats": r,
        "us_per_event": {k: round(v, 1) for k, v in us.items() if "small" not in k},
        "us_per_small_graph": {k: round(v, 1) for k, v in us.items() if "small" in k},
        "speedups": {k: round(v, 2) for k, v in speedups.items()},
        "versions": {
            "onnxruntime": ort.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "machine": platform.processor() or platform.machine(),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--jets-per-event", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {name: measure(args, *size) for name, size in MODELS.items()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    first = next(iter(results.values()))
    print(
        f"{first['events']} events x {first['jets_per_event']} jets, "
        f"{first['mean_nodes_per_event']:.0f} nodes per event, one thread, CPU time\n"
    )
    names = list(results)
    print("| path (us per event) | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for path in first["us_per_event"]:
        print(
            f"| {path} | "
            + " | ".join(f"{results[n]['us_per_event'][path]:.0f}" for n in names)
            + " |"
        )
    for path in first["us_per_small_graph"]:
        cells = " | ".join(f"{results[n]['us_per_small_graph'][path]:.0f}" for n in names)
        print(f"| {path} (6-12 nodes, us per call) | {cells} |")
    for speedup in first["speedups"]:
        cells = " | ".join(f"{results[n]['speedups'][speedup]:.2f}x" for n in names)
        print(f"| **{speedup}** | {cells} |")


if __name__ == "__main__":
    main()
