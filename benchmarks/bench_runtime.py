"""Native runtime speed: one model, the same events of ~10 jets, every inference path.

Paths, per event (inference on the same prebuilt kNN graphs unless said otherwise):
  native batched        e2e_gnn's C++ Tagger, all jets of the event in ONE call
  native per jet        the C++ Tagger, one call per jet (what CMSSW did before batching)
  native hits->scores   C++ kNN graph building from raw hits + one call (the plugin's path)
  onnxruntime batched   Python onnxruntime, one call per event
  onnxruntime per jet   Python onnxruntime, one call per jet
  torch eager batched   the PyTorch model, one call per event (no_grad)
  torch eager per jet   the PyTorch model, one call per jet (a Python analysis loop)
  torch.compile ...     the same under torch.compile (dynamic shapes), the peer a torch
                        user would pick next to eager (unless --no-compile)
plus a small-graph case (single jets of 6-12 hits, one call each) where per-call overhead
dominates, and a jet-size sweep (events of 10 jets of 4-32 random hits, native batched vs
native per jet) showing where batching reaches the 4x of issue 6. Native calls above go
through the pybind11 bindings, so their times include the binding overhead a C++ caller
does not pay; the same events are then also run by the C++ example plugin
(cpp/examples/reco_plugin, built against an installed e2e_gnn, hits read from a file, kNN
graphs built in C++, timed in C++ with `--time`):
  C++ plugin batched    produce(event): hits -> graphs -> ONE call per event
  C++ plugin per jet    the same with one call per jet
Everything runs on one thread (ONNX Runtime intra-op threads 1, torch.set_num_threads(1))
and is timed in CPU time of this process (time.process_time: robust on a machine shared
with other jobs), best of --repeats, the paths taking turns in every repeat.

Targets (issue 6): native batched >= 4x native per jet; native faster than Python
onnxruntime on small graphs; native >= 3x torch eager.

Three model sizes are measured in the same run (the third is EdgeConvTagger's default, the
issue-4 tagger): batching pays most when the per-call cost of ONNX Runtime (its 60-75
operators launched once per call, about 30 us) is large next to the per-jet compute.

The native batched event is also measured against the model's floor (benchmarks/floors.py:
FLOPs at the machine's matmul peak, bytes at its memory bandwidth; ``x_floor``).

Everything is measured twice, with glibc's default and with the tuned allocator
(benchmarks/_common.py), each in its own process.

Usage: python benchmarks/bench_runtime.py [--events 40] [--repeats 10] [--no-plugin]
       [--no-compile] [--models NAME ...] [--quick]
Writes benchmarks/results/runtime.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import fcntl
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

import _common
import floors
from e2e_gnn._native_loader import load_native
from e2e_gnn.export import export_onnx
from e2e_gnn.export.parity import default_example
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, graphs_from_features, toy_jets
from e2e_gnn.nn.models import EdgeConvTagger, Scores
from e2e_gnn.spec import ModelSpec

ROOT = Path(__file__).resolve().parents[1]


def build_plugin(work: Path) -> Path:
    """Install e2e_gnn into `work`/prefix and build the example plugin against it."""
    cmake = str(Path(sys.executable).with_name("cmake"))
    library, prefix, plugin = ROOT / "build" / "cpp-install", work / "prefix", work / "plugin"
    for command in (
        [cmake, "-S", ROOT, "-B", library, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
         "-DE2E_GNN_INSTALL=ON", "-DE2E_GNN_TESTS=OFF", "-DE2E_GNN_PYTHON=OFF",
         f"-DPython_EXECUTABLE={sys.executable}"],
        [cmake, "--build", library, "-j", "2"],
        [cmake, "--install", library, "--prefix", prefix],
        [cmake, "-S", ROOT / "cpp" / "examples" / "reco_plugin", "-B", plugin, "-G", "Ninja",
         "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={prefix}"],
        [cmake, "--build", plugin, "-j", "2"],
    ):  # fmt: skip
        # The library build directory is shared with tests/cpp: same lock file.
        with open(library.parent / "cpp-install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            subprocess.run(list(map(str, command)), check=True, capture_output=True)
    return plugin / "reco_plugin"


def plugin_time(plugin: Path, model: Path, events_file: Path, repeats: int, *flags: str) -> float:
    """The plugin's best CPU time per event (seconds), measured in C++."""
    out = subprocess.run(
        [str(plugin), str(model), str(events_file), str(events_file.with_suffix(".out")),
         "--time", str(repeats), *flags],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    found = re.search(r"timing: ([0-9.eE+-]+) us per event", out)
    assert found, out
    return float(found.group(1)) * 1e-6


def write_events(path: Path, events: list[list[np.ndarray]]) -> None:
    lines = ["event,jet," + ",".join(TOY_GRAPH_SPEC.feature_names)]
    for e, event in enumerate(events):
        for j, jet in enumerate(event):
            lines += [f"{e},{j}," + ",".join(f"{float(v):.9g}" for v in hit) for hit in jet]
    path.write_text("\n".join(lines) + "\n")


def interleaved_best(timers: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Best of `repeats` for each timer (microseconds), the timers taking turns in every
    repeat so that all paths see the same load of a shared machine."""
    samples = _common.interleaved(timers, repeats)
    return {name: 1e6 * min(values) for name, values in samples.items()}


def cpu_timer(run: Callable[[], object], items: int) -> Callable[[], float]:
    """A timer giving the CPU time per item (seconds) of one run over all items."""
    return _common.timer(run, items, clock=time.process_time)


MODELS = {
    "small (hidden 16, 2 EdgeConv)": (16, 2),
    "medium (hidden 32, 3 EdgeConv)": (32, 3),
    "issue-4 default (hidden 64, 3 EdgeConv)": (64, 3),
}
# Hits per jet of the jet-size sweep: events of --jets-per-event jets of exactly this many
# random hits, native batched vs native per jet (where the 4x of issue 6 becomes reachable).
SWEEP_HITS = (4, 8, 16, 32)


def measure(
    args: argparse.Namespace,
    hidden: int,
    num_layers: int,
    plugin: Path | None,
    peaks: dict[str, Any],
) -> dict[str, object]:
    torch.manual_seed(0)
    model = EdgeConvTagger(len(TOY_GRAPH_SPEC.feature_names), hidden=hidden, num_layers=num_layers)
    model.eval()
    spec = ModelSpec("bench_tagger", "EdgeConvTagger", model.hyperparameters, graph=TOY_GRAPH_SPEC)
    scored = Scores(model).eval()
    native = load_native()
    jets = toy_jets(args.events * args.jets_per_event, seed=1)
    features = [jets.graph(g)[0] for g in range(jets.num_graphs)]
    events = [
        features[e * args.jets_per_event : (e + 1) * args.jets_per_event]
        for e in range(args.events)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tagger.onnx"
        export_onnx(model, spec, path, default_example(spec))
        tagger = native.Tagger(str(path))
        # the work of all events at once: every op's shapes scale with the jets batched
        floor = floors.model_floor(
            path.read_bytes(), graphs_from_features(features, TOY_GRAPH_SPEC).inputs(), peaks
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        write_events(Path(tmp) / "events.csv", events)
        batched = [graphs_from_features(event, TOY_GRAPH_SPEC).inputs() for event in events]
        per_jet = [[graphs_from_features([j], TOY_GRAPH_SPEC).inputs() for j in e] for e in events]
        hits = [
            (np.concatenate(e), np.cumsum([0] + [len(j) for j in e]).astype(np.int64))
            for e in events
        ]
        small = [
            np.random.default_rng(s).normal(size=(6 + s % 7, 4)).astype(np.float32)
            for s in range(200)
        ]
        small_graphs = [graphs_from_features([x], TOY_GRAPH_SPEC).inputs() for x in small]
        torch_batched = [tuple(map(torch.from_numpy, b.values())) for b in batched]
        torch_per_jet = [tuple(map(torch.from_numpy, g.values())) for e in per_jet for g in e]
        torch_small = [tuple(map(torch.from_numpy, g.values())) for g in small_graphs]

        # Same scores on every path before timing anything (per jet: the batched rows).
        for b, t, jets_of in zip(batched[:3], torch_batched[:3], per_jet[:3], strict=False):
            with torch.no_grad():
                reference = scored(*t).numpy()
            assert np.allclose(tagger.run(**b)["scores"], reference, atol=1e-5, rtol=0)
            assert np.allclose(session.run(["scores"], b)[0], reference, atol=1e-5, rtol=0)
            rows = np.concatenate([tagger.run(**g)["scores"] for g in jets_of])
            assert np.allclose(rows, reference, atol=1e-5, rtol=0)

        def torch_run(
            calls: list[tuple[torch.Tensor, ...]], module: torch.nn.Module = scored
        ) -> None:
            with torch.no_grad():
                for t in calls:
                    module(*t)

        n, events_file = args.events, Path(tmp) / "events.csv"
        peers: dict[str, Callable[[], float]] = {}
        if not args.no_compile:
            fast = _common.compiled(scored)
            with torch.no_grad():
                got, want = fast(*torch_batched[0]).numpy(), scored(*torch_batched[0]).numpy()
            assert np.allclose(got, want, atol=1e-5, rtol=0)
            peers = {
                "torch.compile batched": cpu_timer(lambda: torch_run(torch_batched, fast), n),
                "torch.compile per jet": cpu_timer(lambda: torch_run(torch_per_jet, fast), n),
                "torch.compile small graph": cpu_timer(
                    lambda: torch_run(torch_small, fast), len(small_graphs)
                ),
            }
        if plugin is not None:
            peers["C++ plugin batched"] = lambda: plugin_time(plugin, path, events_file, 1)
            peers["C++ plugin per jet"] = lambda: plugin_time(
                plugin, path, events_file, 1, "--per-jet"
            )
        us = interleaved_best(
            {
                "native batched": cpu_timer(lambda: [tagger.run(**b) for b in batched], n),
                "native per jet": cpu_timer(
                    lambda: [tagger.run(**g) for e in per_jet for g in e], n
                ),
                "native hits->scores": cpu_timer(
                    lambda: [tagger.tag_nodes(x, p) for x, p in hits], n
                ),
                "onnxruntime batched": cpu_timer(
                    lambda: [session.run(["scores"], b) for b in batched], n
                ),
                "onnxruntime per jet": cpu_timer(
                    lambda: [session.run(["scores"], g) for e in per_jet for g in e], n
                ),
                "torch eager batched": cpu_timer(lambda: torch_run(torch_batched), n),
                "torch eager per jet": cpu_timer(lambda: torch_run(torch_per_jet), n),
                "native small graph": cpu_timer(
                    lambda: [tagger.run(**g) for g in small_graphs], len(small_graphs)
                ),
                "onnxruntime small graph": cpu_timer(
                    lambda: [session.run(["scores"], g) for g in small_graphs], len(small_graphs)
                ),
                "torch eager small graph": cpu_timer(
                    lambda: torch_run(torch_small), len(small_graphs)
                ),
                **peers,
            },
            args.repeats,
        )
        sweep = {}
        for hits in SWEEP_HITS:
            rng = np.random.default_rng(hits)
            sweep_events = [
                [rng.normal(size=(hits, 4)).astype(np.float32) for _ in range(args.jets_per_event)]
                for _ in range(args.events)
            ]
            sweep_batched = [graphs_from_features(e, TOY_GRAPH_SPEC).inputs() for e in sweep_events]
            sweep_per_jet = [
                graphs_from_features([j], TOY_GRAPH_SPEC).inputs() for e in sweep_events for j in e
            ]
            times = interleaved_best(
                {
                    "batched": cpu_timer(lambda b=sweep_batched: [tagger.run(**x) for x in b], n),
                    "per jet": cpu_timer(lambda g=sweep_per_jet: [tagger.run(**x) for x in g], n),
                },
                args.repeats,
            )
            sweep[f"{hits} hits per jet"] = {
                "native batched": round(times["batched"], 1),
                "native per jet": round(times["per jet"], 1),
                "ratio": round(times["per jet"] / times["batched"], 2),
            }
    speedups = {
        "native batched vs native per jet (target >= 4)": us["native per jet"]
        / us["native batched"],
        "native vs onnxruntime, small graph (target > 1)": us["onnxruntime small graph"]
        / us["native small graph"],
        "native vs onnxruntime, batched event": us["onnxruntime batched"] / us["native batched"],
        "native vs torch eager, batched event (target >= 3)": us["torch eager batched"]
        / us["native batched"],
        "native batched vs torch eager per jet": us["torch eager per jet"] / us["native batched"],
        "native vs torch eager, small graph": us["torch eager small graph"]
        / us["native small graph"],
    }
    if "torch.compile batched" in us:
        speedups["native vs torch.compile, batched event"] = (
            us["torch.compile batched"] / us["native batched"]
        )
        speedups["native vs torch.compile, small graph"] = (
            us["torch.compile small graph"] / us["native small graph"]
        )
    if "C++ plugin batched" in us:
        plugin_us = us["C++ plugin batched"]
        speedups["C++ plugin batched vs per jet"] = us["C++ plugin per jet"] / plugin_us
        speedups["C++ plugin (hits -> scores) vs onnxruntime batched (graphs -> scores)"] = (
            us["onnxruntime batched"] / plugin_us
        )
        speedups["C++ plugin (hits -> scores) vs torch eager batched (graphs -> scores)"] = (
            us["torch eager batched"] / plugin_us
        )
    nodes = [len(b["x"]) for b in batched]
    result = {
        "model": {"class": "EdgeConvTagger", **model.hyperparameters, "k": TOY_GRAPH_SPEC.k},
        "events": args.events,
        "jets_per_event": args.jets_per_event,
        "mean_nodes_per_event": float(np.mean(nodes)),
        "threads": 1,
        "clock": "CPU time (process_time / std::clock), best of interleaved repeats",
        "repeats": args.repeats,
        "us_per_event": {k: round(v, 1) for k, v in us.items() if "small" not in k},
        "us_per_small_graph": {k: round(v, 1) for k, v in us.items() if "small" in k},
        "jet_size_sweep_us_per_event": sweep,
        "speedups": {k: round(v, 2) for k, v in speedups.items()},
        "native_batched_vs_floor": {
            "us_per_event": round(us["native batched"], 1),
            **floors.against(us["native batched"] / 1e3, floor, per=args.events),
            **{
                f"{key}_per_event": floor[key] // args.events
                for key in ("flops", "bytes_lower", "bytes_upper")
            },
        },
    }
    return result


def measure_all(args: argparse.Namespace, peaks: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as work:
        plugin = None if args.no_plugin else build_plugin(Path(work))
        return {name: measure(args, *MODELS[name], plugin, peaks) for name in args.models}


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--jets-per-event", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--no-plugin", action="store_true", help="leave out the C++ plugin")
    parser.add_argument("--no-compile", action="store_true", help="leave out torch.compile")
    quick = {
        "events": 3,
        "jets_per_event": 3,
        "repeats": 1,
        "models": [next(iter(MODELS))],
        "no_plugin": True,
        "no_compile": True,
    }
    args = _common.parse(parser, quick)
    bench = _common.Bench("runtime", args)
    by_allocator = bench.by_allocator(
        lambda: measure_all(args, bench.peaks()), torch=1, onnxruntime_intra_op=1
    )
    bench.write({"allocators": by_allocator}, torch=1, onnxruntime_intra_op=1)
    for setting, results in by_allocator.items():
        print(f"\n## allocator: {setting}\n")
        print_table({k: v for k, v in results.items() if k != "meta"})


def print_table(results: dict[str, Any]) -> None:
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
    for hits in first["jet_size_sweep_us_per_event"]:
        cells = " | ".join(
            "{native batched:.0f} / {native per jet:.0f} ({ratio:.2f}x)".format(
                **results[n]["jet_size_sweep_us_per_event"][hits]
            )
            for n in names
        )
        print(f"| native batched / per jet, {hits} | {cells} |")
    for speedup in first["speedups"]:
        cells = " | ".join(f"{results[n]['speedups'][speedup]:.2f}x" for n in names)
        print(f"| **{speedup}** | {cells} |")


if __name__ == "__main__":
    main()
