"""Algebra before kernels (issue 16): exact rewrites that make the models do less work.

1. ``rewrite``: the EdgeConv tagger on the README event (10 jets, 1,111 nodes, kNN k = 16,
   17,776 edges, three EdgeConv layers 64 wide, mean aggregation, mean+max pooling, head),
   exported to ONNX and run in ONNX Runtime on one thread, with general aggregation and
   with ``fixed_degree=16``:
   - ``relu_last``: the MLPs end with a ReLU (the tagger before ``plain_last``);
   - ``plain_last_per_edge``: torch_geometric's convention (last Linear, ReLU after the
     aggregation) with the last Linear kept per edge (hidden from the rewrite);
   - ``plain_last``: the same weights with the last Linear moved after the aggregation
     (what EdgeConv does by itself); outputs must equal the per-edge ones within 1e-5.
2. ``levels``: the exported default tagger at ONNX Runtime's graph optimisation levels
   0 / 1 / 2 / 99, the operators left in the optimised graph, and the time per operator
   type at level 99 (ONNX Runtime's profiler).
3. ``layers``: SAGEConv / GraphConv (64 -> 16) and GCNConv (16 -> 64) on a random graph of
   1,000 nodes and 16,000 edges, the Linear on the narrower side of the aggregation vs on
   the other side (the previous order), in ONNX Runtime on one thread.
4. ``auc``: the main job's sample (``make demo``: 2,000 tau events, seed 0, the default
   training settings of ``python/e2e_gnn/demo.py``), the EdgeConv tagger trained with both
   conventions from the same initial weights, test ROC AUC (torch), for training seeds
   0, 1, 2.

Times are medians of interleaved runs, in CPU time of this process (robust against the
load of a shared machine; ONNX Runtime runs in this thread with one intra-op thread). Usage:
``PYTHONPATH=python python benchmarks/bench_algebra.py [--parts rewrite,levels,layers,auc]
[--repeat 30] [--quick]``; writes benchmarks/results/algebra.json.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import onnx
import onnxruntime as ort
import torch

import e2e_gnn.nn.conv.gcn_conv as gcn_module
import e2e_gnn.nn.conv.graph_conv as graph_module
import e2e_gnn.nn.conv.sage_conv as sage_module
import floors
from _common import Bench, interleaved, parse, parser, timer
from bench_layers import export_bytes, knn_event
from e2e_gnn import custom_ops
from e2e_gnn.nn import GCNConv, GraphConv, SAGEConv, fused_operators
from e2e_gnn.nn.models import EdgeConvTagger

LEVELS = {
    "0 (disable all)": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "1 (basic)": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "2 (extended)": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "99 (all, default)": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
TAGGER_DYNAMIC = {"x": {0: "N"}, "edge_index": {1: "E"}, "batch": {0: "N"}}


def session(
    model: bytes,
    level: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    optimized: Path | None = None,
    profile: Path | None = None,
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = level
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    if profile is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile)
    custom_ops.register(options)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def feeds_of(sess: ort.InferenceSession, args: dict[str, torch.Tensor]) -> dict[str, Any]:
    wanted = {i.name for i in sess.get_inputs()}
    return {k: v.numpy() for k, v in args.items() if k in wanted}


def median_ms(
    sessions: dict[str, ort.InferenceSession], args: dict[str, torch.Tensor], repeat: int
):  # type: ignore[no-untyped-def]
    timers = {}
    for name, sess in sessions.items():
        feeds = feeds_of(sess, args)
        timers[name] = timer(lambda s=sess, f=feeds: s.run(None, f), clock=time.process_time)
    samples = interleaved(timers, repeat, warmup=3)
    return {name: 1e3 * statistics.median(values) for name, values in samples.items()}


class _PerEdge(torch.nn.Module):
    """Hides a Linear from EdgeConv's rewrite (it then runs per edge, as before)."""

    def __init__(self, lin: torch.nn.Linear) -> None:
        super().__init__()
        self.lin = lin

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.lin(h)


def taggers(fixed_degree: int | None) -> dict[str, torch.nn.Module]:
    """The three variants of the README event's tagger, sharing weights."""
    torch.manual_seed(0)
    plain = EdgeConvTagger(4, hidden=64, num_layers=3, plain_last=True).eval()
    relu_last = EdgeConvTagger(4, hidden=64, num_layers=3, plain_last=False).eval()
    relu_last.load_state_dict(plain.state_dict())
    per_edge = EdgeConvTagger(4, hidden=64, num_layers=3, plain_last=True).eval()
    per_edge.load_state_dict(plain.state_dict())
    for conv in per_edge.convs:
        conv.nn[-1] = _PerEdge(conv.nn[-1])
    models = {"relu_last": relu_last, "plain_last_per_edge": per_edge, "plain_last": plain}
    for model in models.values():
        for conv in model.convs:
            conv.fixed_degree = fixed_degree
    return models


def bench_rewrite(
    repeat: int, peaks: dict[str, Any], fixed_degrees: tuple[int | None, ...] = (None, 16)
) -> dict[str, Any]:
    """Each variant's time, its difference from torch and its distance to its floor
    (benchmarks/floors.py; ``peaks``: :func:`floors.peaks`)."""
    args = knn_event(10, 16, 4, seed=0)
    out: dict[str, Any] = {
        "nodes": args["x"].size(0),
        "edges": args["edge_index"].size(1),
        "rows": [],
    }
    sessions, outputs = {}, {}
    variants = [
        (f"{name}, {'fixed_degree=16' if fixed else 'general aggregation'}", model, False)
        for fixed in fixed_degrees
        for name, model in taggers(fixed).items()
    ]
    # the default tagger exported with e2e_gnn's fused operators (any fixed_degree: the
    # fused aggregation replaces both)
    variants.append(("plain_last, fused operators", taggers(None)["plain_last"], True))
    floor = {}
    for key, model, fused in variants:
        with fused_operators() if fused else contextlib.nullcontext():
            exported = export_bytes(model, args, TAGGER_DYNAMIC)
        sessions[key] = session(exported)
        floor[key] = floors.model_floor(exported, feeds_of(sessions[key], args), peaks)
        with torch.no_grad():
            reference = model(**args).numpy()
        got = sessions[key].run(None, feeds_of(sessions[key], args))[0]
        outputs[key] = got
        out["rows"].append(
            {"variant": key, "onnx_vs_torch_max_abs_diff": float(np.abs(got - reference).max())}
        )
    times = median_ms(sessions, args, repeat)
    for row in out["rows"]:
        key = row["variant"]
        row["ms"] = round(times[key], 3)
        row.update(floors.against(times[key], floor[key]))
        same = key.replace("plain_last,", "plain_last_per_edge,")
        if same not in outputs:  # the fused row: against a plain per-edge export
            same = next(k for k in outputs if k.startswith("plain_last_per_edge,"))
        if key.startswith("plain_last,"):
            row["max_abs_diff_vs_per_edge"] = float(np.abs(outputs[key] - outputs[same]).max())
    baseline = times[out["rows"][0]["variant"]]
    for row in out["rows"]:
        row["speedup_vs_first_row"] = round(baseline / row["ms"], 2)
    return out


def op_counts(path: Path) -> dict[str, int]:
    return dict(collections.Counter(node.op_type for node in onnx.load(str(path)).graph.node))


def profile_by_op(model: bytes, args: dict[str, torch.Tensor], runs: int, tmp: Path):  # type: ignore[no-untyped-def]
    """The share (%) of kernel time spent in each operator type (ONNX Runtime profiler; its
    wall-clock times are inflated on a loaded machine, their shares much less)."""
    sess = session(model, profile=tmp / "profile")
    feeds = feeds_of(sess, args)
    for _ in range(runs):
        sess.run(None, feeds)
    trace = json.loads(Path(sess.end_profiling()).read_text())
    total: collections.Counter[str] = collections.Counter()
    for event in trace:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            total[event["args"]["op_name"]] += event["dur"]
    kernel = sum(total.values())
    return {op: round(100 * us / kernel, 1) for op, us in total.most_common()}


def bench_levels(repeat: int) -> dict[str, Any]:
    args = knn_event(10, 16, 4, seed=0)
    result: dict[str, Any] = {}
    for fixed in (None, 16):
        model = taggers(fixed)["plain_last"]
        exported = export_bytes(model, args, TAGGER_DYNAMIC)
        with torch.no_grad():
            reference = model(**args).numpy()
        sessions, ops = {}, {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, level in LEVELS.items():
                optimized = Path(tmp) / f"{level}.onnx"
                sessions[name] = session(exported, level, optimized)
                ops[name] = op_counts(optimized)
            profile = profile_by_op(exported, args, max(5, repeat // 3), Path(tmp))
        times = median_ms(sessions, args, repeat)
        key = "fixed_degree=16" if fixed else "general aggregation"
        result[key] = {
            "exported_nodes": len(onnx.load_from_string(exported).graph.node),
            "levels": [
                {
                    "level": name,
                    "ms": round(times[name], 3),
                    "max_abs_diff_vs_torch": float(
                        np.abs(sess.run(None, feeds_of(sess, args))[0] - reference).max()
                    ),
                    "operators": sum(ops[name].values()),
                    "operator_types": ops[name],
                }
                for name, sess in sessions.items()
            ],
            "level_99_kernel_time_percent_by_operator_type": profile,
        }
    return result


@contextlib.contextmanager
def previous_order() -> Iterator[None]:
    """The layers with their Linear on the side torch_geometric puts it (the order before)."""
    with (
        mock.patch.object(sage_module, "narrows", lambda lin: False),
        mock.patch.object(graph_module, "narrows", lambda lin: False),
        mock.patch.object(gcn_module, "widens", lambda lin: False),
    ):
        yield


def bench_layers(repeat: int) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(1)
    n, e = 1000, 16000
    edge_index = torch.randint(0, n, (2, e), generator=gen)
    dynamic = {"x": {0: "N"}, "edge_index": {1: "E"}}
    cases = [
        ("SAGEConv mean 64 -> 16", SAGEConv(64, 16), 64),
        ("GraphConv add 64 -> 16", GraphConv(64, 16), 64),
        ("GCNConv 16 -> 64", GCNConv(16, 64), 16),
    ]
    rows = []
    for name, layer, width in cases:
        args = {"x": torch.randn(n, width, generator=gen), "edge_index": edge_index}
        layer.eval()
        with torch.no_grad():
            after = layer(**args).numpy()
        sessions = {"narrower side": session(export_bytes(layer, args, dynamic))}
        with previous_order():
            with torch.no_grad():
                before = layer(**args).numpy()
            sessions["previous order"] = session(export_bytes(layer, args, dynamic))
        times = median_ms(sessions, args, repeat)
        got = {k: s.run(None, feeds_of(s, args))[0] for k, s in sessions.items()}
        rows.append(
            {
                "layer": name,
                "previous_order_ms": round(times["previous order"], 3),
                "narrower_side_ms": round(times["narrower side"], 3),
                "speedup": round(times["previous order"] / times["narrower side"], 2),
                "max_abs_diff_torch": float(np.abs(after - before).max()),
                "max_abs_diff_onnx": float(
                    np.abs(got["narrower side"] - got["previous order"]).max()
                ),
            }
        )
    return rows


def bench_auc(events: int, seeds: list[int], work: Path) -> dict[str, Any]:
    """Train the demo's EdgeConv tagger with both conventions on the demo's sample."""
    from e2e_gnn.demo import DemoConfig, _labelled_jets
    from e2e_gnn.generate import generate
    from e2e_gnn.train import roc_auc
    from e2e_gnn.train.data import split_by_event
    from e2e_gnn.train.settings import VALIDATION_FRACTION, TrainSettings
    from e2e_gnn.train.taggers import fit, prepare

    config = DemoConfig(events=events)
    events_path = work / f"events_{config.task}_{events}_{config.seed}.root"
    if not events_path.exists():
        generate(config.task, events, config.seed, events_path, workers=config.workers, mpi=False)
    training, test = split_by_event(
        _labelled_jets(events_path, work), VALIDATION_FRACTION, config.seed
    )
    result: dict[str, Any] = {"events": events, "task": config.task, "runs": []}
    for seed in seeds:
        settings = TrainSettings(epochs=config.epochs, seed=seed)
        job = prepare("edgeconv", training, test, settings)
        initial = job.model.state_dict()
        for plain_last in (False, True):
            torch.manual_seed(seed)
            model = EdgeConvTagger(
                len(job.graph.feature_names),  # type: ignore[union-attr]
                hidden=settings.hidden,
                num_layers=settings.layers,
                plain_last=plain_last,
            )
            model.load_state_dict(initial)
            start = time.perf_counter()
            trained = fit(dataclasses.replace(job, model=model), settings)
            result["runs"].append(
                {
                    "seed": seed,
                    "plain_last": plain_last,
                    "test_auc": round(roc_auc(test.label, trained.scores), 4),
                    "train_seconds": round(time.perf_counter() - start, 1),
                }
            )
            print(result["runs"][-1], flush=True)
        result["test_jets"] = len(test.label)
    for plain_last in (False, True):
        aucs = [r["test_auc"] for r in result["runs"] if r["plain_last"] == plain_last]
        result[f"mean_auc_plain_last_{plain_last}"] = round(float(np.mean(aucs)), 4)
    return result


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--parts", default="rewrite,levels,layers,auc")
    arguments.add_argument("--repeat", type=int, default=30)
    arguments.add_argument("--events", type=int, default=2000)
    arguments.add_argument("--seeds", default="0,1,2")
    arguments.add_argument("--work", type=Path, default=Path("runs/bench_algebra"))
    args = parse(arguments, {"repeat": 2, "events": 40, "seeds": "0", "parts": "rewrite"})
    torch.set_num_threads(1)
    bench = Bench("algebra", args)
    parts = args.parts.split(",")
    path = args.out / "algebra.json"
    result: dict[str, Any] = {}
    if path.exists() and not args.quick:  # parts measured in earlier runs are kept
        result = {k: v for k, v in json.loads(path.read_text()).items() if k != "meta"}
    if "rewrite" in parts:
        fixed_degrees = (16,) if args.quick else (None, 16)
        result["rewrite"] = bench_rewrite(args.repeat, bench.peaks(), fixed_degrees)
        print(json.dumps(result["rewrite"], indent=1))
    if "levels" in parts:
        result["levels"] = bench_levels(args.repeat)
        for key, value in result["levels"].items():
            print(key, [(row["level"], row["ms"], row["operators"]) for row in value["levels"]])
    if "layers" in parts:
        result["layers"] = bench_layers(args.repeat)
        print(json.dumps(result["layers"], indent=1))
    if "auc" in parts:
        args.work.mkdir(parents=True, exist_ok=True)
        seeds = [int(s) for s in args.seeds.split(",")]
        result["auc"] = bench_auc(args.events, seeds, args.work)
    bench.write(result, onnxruntime_intra_op=1, onnxruntime_inter_op=1)


if __name__ == "__main__":
    main()
