"""Render the performance tables of docs/benchmarks.md (and the README's summary) from the
result files, so that every number shown comes from a JSON file that `e2e-gnn bench --all`
regenerates.

Each row names the benchmark, what is compared, what was measured, the ratio to the peer
(peer time / our time), our time as a multiple of its floor (benchmarks/floors.py) where
the benchmark measures one (each "default allocator / tuned allocator" where the benchmark
measures both), and the machine load during the run. A result file written before the
shared format (benchmarks/_common.py) is listed as to be regenerated, never guessed from.

Usage: python benchmarks/render_tables.py [--results DIR] [--write docs/benchmarks.md]
[--summary README.md]
Prints markdown; with --write, replaces the part of that file between the markers
``<!-- tables:begin -->`` and ``<!-- tables:end -->``; with --summary, the rows listed in
``SUMMARY`` between ``<!-- summary:begin -->`` and ``<!-- summary:end -->``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- tables:begin -->", "<!-- tables:end -->"
SUMMARY_BEGIN, SUMMARY_END = "<!-- summary:begin -->", "<!-- summary:end -->"
SUMMARY = (  # the README's rows: (benchmark, start of the "compared" cell)
    ("layers", "EdgeConv tagger (README event), ours in ONNX Runtime vs torch_geometric, torch"),
    ("algebra", "README event tagger in ONNX Runtime, plain_last, general aggregation vs"),
    ("algebra", "README event tagger in ONNX Runtime, plain_last, fused operators vs"),
    ("layers", "each general layer"),
    ("aggregation", "EdgeConvTagger (default): exact vs racy"),
    ("knn", "native kNN vs the fastest alternative"),
    ("per_call", "small jet, one per call: ONNX Runtime fixed cost"),
    ("per_call", "small jet, one per call: Python Tagger above native"),
    ("per_call", "small jet, one per call: Python graphs_from_spec above its binding"),
    ("triton", "Triton CPU (client + server) / native CPU at 100"),
    ("runtime", "native batched vs native per jet (target >= 4) [issue-4 default"),
    ("generate", "our cost on top of Pythia"),
    ("precision", "`export-onnx --precision int8`"),
)


class Row(NamedTuple):
    compared: str
    measured: str
    note: str = ""
    ratio: str = ""  # peer time / our time
    x_floor: str = ""  # our time / its floor


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _floor_note(floor: dict[str, Any]) -> str:
    """What an exported model's floor is made of (benchmarks/floors.py)."""
    return (
        f"floor {floor['floor_ms']:.3g} ms: {floor['flops'] / 1e6:.0f} MFLOP "
        f"({floor['compute_ms']:.3g} ms at peak), {floor['bytes_lower'] / 1e6:.2g}-"
        f"{floor['bytes_upper'] / 1e6:.0f} MB moved ({floor['memory_ms_lower']:.2g}-"
        f"{floor['memory_ms_upper']:.2g} ms)"
    )


def _both(result: dict[str, Any], value: Callable[[dict[str, Any]], str]) -> str:
    """``value`` of each allocator setting, "default / tuned"."""
    settings = result["allocators"]
    return " / ".join(value(settings[s]) for s in ("default", "tuned") if s in settings)


OURS = "e2e_gnn EdgeConv (per-node split), ONNX Runtime"
FIXED = "e2e_gnn EdgeConv fixed_degree=16 (no scatter), ONNX Runtime"
TAGGER_PEERS = (
    "torch_geometric, torch eager",
    "torch_geometric, torch.compile",
    "torch_geometric, exported naively, ONNX Runtime",
    "e2e_gnn EdgeConv, torch.compile",
)


def _layers(result: dict[str, Any]) -> Iterator[Row]:
    runs = [result["allocators"][s] for s in ("default", "tuned") if s in result["allocators"]]

    def row_of(run: dict[str, Any], variant: str) -> dict[str, Any] | None:
        return next((r for r in run["tagger"] if r["variant"] == variant), None)

    pairs = [(OURS, peer) for peer in TAGGER_PEERS] + [(FIXED, TAGGER_PEERS[i]) for i in (0, 1)]
    for ours, peer in pairs:
        found = [(row_of(run, ours), row_of(run, peer)) for run in runs]
        found = [(a, b) for a, b in found if a is not None and b is not None]
        if not found:
            continue  # a variant this run left out
        label = "ours" if ours == OURS else "ours with fixed_degree=16"
        floor = runs[0].get("tagger_floors", {}).get(ours)
        yield Row(
            f"EdgeConv tagger (README event), {label} in ONNX Runtime vs {peer}",
            " / ".join(f"{a['ms']:.1f} vs {b['ms']:.1f} ms" for a, b in found),
            _floor_note(floor) if floor else "",
            " / ".join(_x(b["ms"] / a["ms"]) for a, b in found),
            " / ".join(_x(a["x_floor"]) for a, _ in found if "x_floor" in a),
        )

    def spread(key: str) -> Callable[[dict[str, Any]], str]:
        def value(run: dict[str, Any]) -> str:
            # rows measured before a ratio existed lack it; NaN: a peer that did not run
            ratios = [r[key] for r in run["general_layers"] if key in r and r[key] == r[key]]
            return f"{_x(min(ratios))}-{_x(max(ratios))}" if ratios else "-"

        return value

    floor_note = "x floor: range over the layers, each against its own floor"
    exports = (("", "in ONNX Runtime"), ("fused_", "with fused operators (`--fused-ops`)"))
    for key, peer in (("eager", "PyG eager"), ("compile", "PyG torch.compile")):
        for prefix, export in exports:
            ratios = _both(result, spread(f"{prefix}speedup_vs_pyg_{key}"))
            if ratios.strip(" -/"):
                floor = _both(result, spread(f"{prefix}x_floor"))
                yield Row(
                    f"each general layer {export} vs {peer}",
                    "",
                    floor_note if floor.strip(" -/") else "",
                    ratios,
                    floor,
                )
    for index, layer in enumerate(runs[0]["general_layers"]):
        rows = [run["general_layers"][index] for run in runs]
        # the peer a user would pick: PyG under torch.compile where it compiles
        key = (
            "compile" if all(r["pyg_compile_ms"] == r["pyg_compile_ms"] for r in rows) else "eager"
        )
        yield Row(
            f"{layer['layer']} (1,000 nodes, 16,000 edges, 64 wide), ours in ONNX Runtime vs "
            f"PyG {'torch.compile' if key == 'compile' else 'eager'}",
            " / ".join(
                f"{r['ours_onnx_ms']:.2f} vs {r[f'pyg_{key}_ms']:.2f} ms"
                + (
                    f" (fused {r['ours_fused_onnx_ms']:.2f} ms)"
                    if "ours_fused_onnx_ms" in r
                    else ""
                )
                for r in rows
            ),
            f"floor {layer['floor_ms']:.3g} ms; {_x(layer['x_unfused'])} the op-by-op time "
            "with nothing cached"
            if "floor_ms" in layer
            else "",
            " / ".join(_x(r[f"speedup_vs_pyg_{key}"]) for r in rows),
            " / ".join(_x(r["x_floor"]) for r in rows if "x_floor" in r),
        )


def _aggregation(result: dict[str, Any]) -> Iterator[Row]:
    by = {(r["what"], r["export"], r["threads"]): r for r in result["rows"]}
    for (what, export, threads), row in by.items():
        if export != "exact" or threads != 1 or (what, "scatternd", 1) not in by:
            continue
        racy = by[(what, "scatternd", 1)]
        exact_runs = [r for (w, e, _), r in by.items() if w == what and e == "exact"]
        same = all(r["runs_identical"] for r in exact_runs)
        threads_tried = sorted(r["threads"] for r in exact_runs)
        note = f"exact runs identical on {threads_tried} threads: {same}"
        if "x_floor" in row and "x_floor" in racy:  # each export against its own floor
            note += f"; exact {_floor_note(row['floor'])}; racy floor {racy['floor_ms']:.3g} ms"
        yield Row(
            f"{what}: exact vs racy ScatterND (1 thread)",
            f"{row['ms']:.2f} vs {racy['ms']:.2f} ms (exact / racy = {row['ms'] / racy['ms']:.2f})",
            note,
            x_floor=f"{_x(row['x_floor'])} vs {_x(racy['x_floor'])}" if "x_floor" in row else "",
        )


def _knn(result: dict[str, Any]) -> Iterator[Row]:
    first = next(iter(result["allocators"].values()))
    for label in first["speed_up_vs_fastest_alternative"]:
        floor = first.get("native_vs_floor", {}).get(label)
        yield Row(
            f"native kNN vs the fastest alternative, {label} nodes",
            _both(
                result, lambda run, label=label: f"{run['us_per_graph'][label]['native']:.0f} us"
            ),
            f"floor {floor['floor_ms'] * 1e3:.3g} us per graph (positions in, int64 edges out "
            f"at the memory bandwidth); brute force, every pair at peak: "
            f"{floor['brute_force_ms'] * 1e3:.3g} us"
            if floor
            else "",
            _both(
                result, lambda run, label=label: _x(run["speed_up_vs_fastest_alternative"][label])
            ),
            _both(
                result,
                lambda run, label=label: (
                    _x(run["native_vs_floor"][label]["x_floor"]) if "native_vs_floor" in run else ""
                ),
            ),
        )


def _knn_in_model(result: dict[str, Any]) -> Iterator[Row]:
    first = next(iter(result["allocators"].values()))
    for case, row in first["ms"].items():
        peer = next(name for name in row if name.startswith(("PyG", "torch cdist")))

        def ratio(run: dict[str, Any], case: str = case, peer: str = peer) -> str:
            times = run["ms"][case]
            return _x(times[peer] / times["ours ONNX Runtime"])

        yield Row(
            f"in-model kNN {case}, ours in ONNX Runtime vs {peer}", "", ratio=_both(result, ratio)
        )


def _runtime(result: dict[str, Any]) -> Iterator[Row]:
    runs = [result["allocators"][s] for s in ("default", "tuned") if s in result["allocators"]]
    for model, measured in runs[0].items():
        if model == "meta":
            continue
        for speedup in measured["speedups"]:
            # the native batched event is "ours" in these: its floor (bench_runtime.py)
            ours_batched = speedup.startswith("native batched") or (
                speedup.startswith("native vs") and "batched event" in speedup
            )
            floors = [
                run[model]["native_batched_vs_floor"]
                for run in runs
                if ours_batched and "native_batched_vs_floor" in run[model]
            ]
            yield Row(
                f"{speedup} [{model}]",
                "",
                f"x floor: native batched against the model's floor, "
                f"{floors[0]['floor_ms'] * 1e3:.3g} us per event "
                f"({floors[0]['floor_ms'] * 1e3 / measured['jets_per_event']:.3g} us per jet)"
                if floors
                else "",
                " / ".join(_x(run[model]["speedups"][speedup]) for run in runs),
                " / ".join(_x(f["x_floor"]) for f in floors),
            )
        if "native_batched_vs_floor" in measured:
            floors = [run[model]["native_batched_vs_floor"] for run in runs]
            first = floors[0]
            yield Row(
                f"native batched, event of {measured['jets_per_event']} jets [{model}]",
                " / ".join(f"{f['us_per_event']:.0f} us" for f in floors),
                f"floor {first['floor_ms'] * 1e3:.3g} us per event: "
                f"{first['flops_per_event'] / 1e6:.2g} MFLOP, "
                f"{first['bytes_lower_per_event'] / 1e6:.2g}-"
                f"{first['bytes_upper_per_event'] / 1e6:.2g} MB",
                x_floor=" / ".join(_x(f["x_floor"]) for f in floors),
            )


FIXED_COST = "ONNX Runtime fixed cost (floor)"  # bench_per_call.py's overheads


def _per_call(result: dict[str, Any]) -> Iterator[Row]:
    x_floor = result.get("x_floor")  # absent from results measured before the floors
    fixed = result["overheads_us"][FIXED_COST]
    for name, us in result["overheads_us"].items():
        if x_floor is None:
            note = ""
        elif name == FIXED_COST:
            note = "the floor of every call"
        elif name == "model compute above the floor":
            note = (
                f"against the model's floor per jet ({result['model_floor_us_per_jet']:.3g} us, "
                "benchmarks/floors.py)"
            )
        elif name in x_floor:
            note = (
                f"floor: ONNX Runtime's fixed cost ({fixed:.1f} us); "
                "x floor = (fixed + this) / fixed"
            )
        else:
            note = "no floor: a difference of two paths that both run the model, not a layer"
        yield Row(
            f"small jet, one per call: {name}",
            f"{us:.1f} us",
            note,
            x_floor=_x(x_floor[name]) if x_floor and name in x_floor else "",
        )


def _triton(result: dict[str, Any]) -> Iterator[Row]:
    rows = {(r["backend"], r["graphs_per_request"], r["in_flight"]): r for r in result["results"]}
    for graphs in sorted({g for _, g, _ in rows}):
        local = rows.get(("native", graphs, 1)) or rows.get(("onnxruntime", graphs, 1))
        grpc = rows.get(("triton-grpc", graphs, 1))
        if local and grpc:
            floored = "x_floor" in grpc and "x_floor" in local
            yield Row(
                f"Triton gRPC vs {local['backend']}, {graphs} graphs/request (1 in flight)",
                f"p50 {grpc['p50_ms']:.2f} vs {local['p50_ms']:.2f} ms, "
                f"CPU {grpc.get('cpu_ms', float('nan')):.2f} vs "
                f"{local.get('cpu_ms', float('nan')):.2f} ms, "
                f"{grpc['requests_per_s']:.0f} vs {local['requests_per_s']:.0f} req/s",
                f"x floor of the p50; the model's floor {local['floor_ms']:.3g} ms per request"
                if floored
                else "",
                x_floor=f"{_x(grpc['x_floor'])} vs {_x(local['x_floor'])}" if floored else "",
            )
    goal = result["goal"]
    floored = "floor_ms" in goal  # absent from results measured before the floors
    floor_note = f"; the model's floor {goal['floor_ms']:.3g} ms per request" if floored else ""
    if goal.get("triton_p50_over_local_p50") is not None:
        yield Row(
            f"Triton p50 / {goal['versus']} p50 at {goal['graphs_per_request']} graphs/request",
            _x(goal["triton_p50_over_local_p50"]),
            f"target <= {goal['target']}x: {'met' if goal['met'] else 'not met'}{floor_note}",
            x_floor=f"{_x(goal['triton_p50_x_floor'])} vs {_x(goal['local_p50_x_floor'])}"
            if floored
            else "",
        )
    if goal.get("triton_cpu_over_local_cpu") is not None:
        yield Row(
            f"Triton CPU (client + server) / {goal['versus']} CPU at "
            f"{goal['graphs_per_request']} graphs/request",
            _x(goal["triton_cpu_over_local_cpu"]),
            f"CPU time: not inflated by the machine's load{floor_note}",
            x_floor=f"{_x(goal['triton_cpu_x_floor'])} vs {_x(goal['local_cpu_x_floor'])}"
            if floored
            else "",
        )
    batching = result["dynamic_batching"]
    if not batching["allowed"]:
        yield "Triton server-side dynamic batching", "not measured", batching["reason"]


def _scaling(result: dict[str, Any]) -> Iterator[Row]:
    def cell(row: dict[str, Any], per: int = 1) -> str:
        values = (row["p50_ms"], row["p99_ms"], row.get("cpu_ms", float("nan")))
        return " / ".join(f"{v * 1e3 / per:.0f}" for v in values)

    for backend, measured in result["backends"].items():
        curves = measured["curves"]
        nodes, graphs = curves["nodes"], curves["graphs"]
        yield (
            f"{backend}: p50 / p99 / CPU us per call, {nodes[0]['nodes']} -> "
            f"{nodes[-1]['nodes']} nodes (1 graph)",
            f"{cell(nodes[0])} -> {cell(nodes[-1])}",
            "",
        )
        yield (
            f"{backend}: p50 / p99 / CPU us per graph, {graphs[0]['graphs']} -> "
            f"{graphs[-1]['graphs']} graphs per call",
            f"{cell(graphs[0], graphs[0]['graphs'])} -> {cell(graphs[-1], graphs[-1]['graphs'])}",
            "",
        )
        threads = ", ".join(f"{r['threads']}: {cell(r)}" for r in curves["threads"])
        yield f"{backend}: p50 / p99 / CPU us by intra-op threads", threads, ""
        yield f"{backend}: peak RSS", json.dumps(measured["peak_rss_mb"]) + " MB", ""
    for backend, why in result["skipped"].items():
        yield f"{backend}: not run", "-", why


def _generate(result: dict[str, Any]) -> Iterator[Row]:
    for key, label in (("mpi_on", "with MPI"), ("mpi_off", "without MPI")):
        overhead = result[key]["overhead_percent"]
        x_floor = result[key].get("x_floor")  # absent from results measured before the floors
        yield Row(
            f"our cost on top of Pythia, {label}",
            f"{overhead:+.0f} %",
            "target <= 25 %"
            + ("; floor: Pythia alone (x floor = ours / Pythia's)" if x_floor else ""),
            x_floor=_x(x_floor) if x_floor else "",
        )


def _physics(result: dict[str, Any]) -> Iterator[Row]:
    for kind, model in result["models"].items():
        yield f"displaced photons, {kind}: AUC", f"{model['auc']:.3f}", ""


def _algebra(result: dict[str, Any]) -> Iterator[Row]:
    rewrite = result.get("rewrite", {})
    rows = rewrite.get("rows", [])
    for row in rows[1:]:
        yield Row(
            f"README event tagger in ONNX Runtime, {row['variant']} vs {rows[0]['variant']}",
            f"{row['ms']:.1f} vs {rows[0]['ms']:.1f} ms",
            f"max diff vs torch {row['onnx_vs_torch_max_abs_diff']:.0e}",
            _x(row["speedup_vs_first_row"]),
            _x(row["x_floor"]) if "x_floor" in row else "",  # floors.against, where recorded
        )
    auc = result.get("auc", {})
    if "mean_auc_plain_last_True" in auc:
        yield (
            "tagger AUC, plain last Linear vs ReLU last (mean over seeds)",
            f"{auc['mean_auc_plain_last_True']:.3f} vs {auc['mean_auc_plain_last_False']:.3f}",
            f"{auc.get('task', '')} task, {auc.get('events', '?')} events",
        )


def _precision(result: dict[str, Any]) -> Iterator[Row]:
    trained = result.get("trained", {})
    rows = trained.get("rows") or result.get("readme_event", {}).get("rows", [])
    where = "trained tagger on its test file" if trained.get("rows") else "README event"
    for row in rows[1:]:
        if row["model"] not in ("int8", "fp16"):
            continue
        physics = (
            f"largest score diff {row['max_score_diff']:.2g}, AUC change {row['auc_change']:+.4f}"
            if "auc_change" in row
            else f"largest diff {row['max_abs_diff_float32']:.2g}"
        )
        if "x_floor" in row:
            physics += (
                f"; x floor: {row['model']} vs float32 against the float32 model's floor "
                f"({row['floor_ms']:.3g} ms; reduced kernels may have a higher peak)"
            )
        yield Row(
            f"`export-onnx --precision {row['model']}` vs float32 in ONNX Runtime ({where})",
            f"{row['ms']:.1f} vs {rows[0]['ms']:.1f} ms",
            physics,
            _x(row["speedup"]),
            f"{_x(row['x_floor'])} vs {_x(rows[0]['x_floor'])}" if "x_floor" in row else "",
        )


RENDERERS: dict[str, Callable[[dict[str, Any]], Iterator[Row | tuple[str, str, str]]]] = {
    "algebra": _algebra,
    "layers": _layers,
    "aggregation": _aggregation,
    "knn": _knn,
    "knn_in_model": _knn_in_model,
    "runtime": _runtime,
    "per_call": _per_call,
    "triton": _triton,
    "scaling": _scaling,
    "generate": _generate,
    "physics": _physics,
    "precision": _precision,
}


def _shared_format(result: dict[str, Any]) -> bool:
    return "load_average_before" in result.get("meta", {})


def _load(meta: dict[str, Any]) -> str:
    before, after = meta["load_average_before"][0], meta["load_average_after"][0]
    return f"{before:.1f} -> {after:.1f}"


def render(results: Path, only: tuple[tuple[str, str], ...] | None = None) -> str:
    """The table of every result file in ``results``; ``only``: just the rows whose
    (benchmark, start of the "compared" cell) are listed (e.g. :data:`SUMMARY`)."""
    lines = [
        "| benchmark | compared | measured (default / tuned allocator) | ratio to peer | x floor "
        "| note | load (1 min) |",
        "|---|---|---|---|---|---|---|",
    ]
    stale, quick = [], []
    for path in sorted(results.glob("*.json")):
        name = path.stem
        if not Path(__file__).with_name(f"bench_{name}.py").is_file():
            continue  # not a benchmark's (e.g. scripts/pyg_test_suite.py's results)
        result = json.loads(path.read_text())
        if not _shared_format(result):
            stale.append(name)
            continue
        if result["meta"].get("quick"):
            quick.append(name)
        load = _load(result["meta"])
        if isinstance(result.get("skipped"), str):
            lines.append(f"| `{name}` | not run | - | - | - | {result['skipped']} | {load} |")
            continue
        for each in RENDERERS.get(name, lambda _: iter(()))(result):
            row = Row(*each)
            if not (row.measured + row.ratio + row.x_floor).strip(" -/") and not row.note:
                continue  # a variant this run left out
            if only is not None and not any(
                name == bench and row.compared.startswith(start) for bench, start in only
            ):
                continue
            cells = (row.compared, row.measured, row.ratio, row.x_floor, row.note)
            # "-": nothing measured (" / ": in neither allocator run)
            cells = tuple(c if c.strip(" -/") else "-" for c in cells)
            lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {load} |")
    machines = {
        json.dumps(json.loads(p.read_text())["meta"]["machine"], sort_keys=True)
        for p in results.glob("*.json")
        if _shared_format(json.loads(p.read_text()))
    }
    for machine in sorted(machines):
        m = json.loads(machine)
        lines.append(f"\nMeasured on {m['cpu']}, {m['cores']} cores ({m['platform']}).")
    if quick:
        lines.append(f"\nQuick runs (numbers meaningless): {', '.join(quick)}.")
    if stale:
        lines.append(f"\nTo regenerate (written before the shared format): {', '.join(stale)}.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--write", type=Path, help="markdown file with the table markers")
    parser.add_argument(
        "--summary", type=Path, help="markdown file with the summary markers (the README)"
    )
    args = parser.parse_args()
    if args.write is None and args.summary is None:
        print(render(args.results), end="")
        return
    if args.write is not None:
        _write_between(args.write, BEGIN, END, render(args.results))
    if args.summary is not None:
        _write_between(args.summary, SUMMARY_BEGIN, SUMMARY_END, render(args.results, SUMMARY))


def _write_between(path: Path, begin: str, end: str, table: str) -> None:
    text = path.read_text()
    if begin not in text or end not in text:
        msg = f"{path} has no {begin} ... {end} markers to write the table between"
        raise SystemExit(msg)
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{begin}\n{table}{end}{tail}")
    print(f"wrote the table into {path}")


if __name__ == "__main__":
    main()
