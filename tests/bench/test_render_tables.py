"""benchmarks/render_tables.py: a row shows our time and the peer's, their ratio and our
distance to the floor, for each allocator setting, from the JSON alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from _bench_samples import PER_CALL_US

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import render_tables  # noqa: E402

META = {
    "machine": {"cpu": "probe CPU", "cores": 2, "platform": "probe"},
    "load_average_before": [1.0, 1.0, 1.0],
    "load_average_after": [2.0, 1.0, 1.0],
    "quick": False,
}
FLOOR = {
    "floor_ms": 2.5,
    "flops": 275_000_000,
    "compute_ms": 2.5,
    "bytes_lower": 460_000,
    "bytes_upper": 200_000_000,
    "memory_ms_lower": 0.014,
    "memory_ms_upper": 6.1,
}


def _layers(ours_ms: float, peer_ms: float) -> dict[str, Any]:
    return {
        "tagger": [
            {"variant": "torch_geometric, torch eager", "ms": peer_ms},
            {
                "variant": render_tables.OURS,
                "ms": ours_ms,
                "floor_ms": 2.5,
                "x_floor": ours_ms / 2.5,
            },
        ],
        "tagger_floors": {render_tables.OURS: FLOOR},
        "general_layers": [
            {
                "layer": "GCNConv",
                "pyg_eager_ms": 3.0,
                "pyg_compile_ms": float("nan"),
                "ours_onnx_ms": 1.5,
                "speedup_vs_pyg_eager": 2.0,
                "speedup_vs_pyg_compile": float("nan"),
                "floor_ms": 0.1,
                "x_floor": 15.0,
                "x_unfused": 0.75,
            }
        ],
    }


def test_a_row_has_its_ratio_to_the_peer_and_its_distance_to_the_floor(tmp_path: Path) -> None:
    result = {
        "meta": META,
        "allocators": {"default": _layers(10.0, 30.0), "tuned": _layers(8.0, 20.0)},
    }
    (tmp_path / "layers.json").write_text(json.dumps(result))
    table = render_tables.render(tmp_path).splitlines()
    assert table[0].split(" | ")[3:5] == ["ratio to peer", "x floor"]
    tagger = next(line for line in table if "README event), ours in ONNX" in line)
    cells = [c.strip() for c in tagger.split("|")[1:-1]]
    assert cells[2:5] == ["10.0 vs 30.0 ms / 8.0 vs 20.0 ms", "3.00x / 2.50x", "4.00x / 3.20x"]
    assert cells[5].startswith("floor 2.5 ms: 275 MFLOP")
    gcn = next(line for line in table if line.startswith("| `layers` | GCNConv"))
    cells = [c.strip() for c in gcn.split("|")[1:-1]]
    assert "vs PyG eager" in cells[1]  # torch.compile did not run: the eager peer
    assert cells[3:5] == ["2.00x / 2.00x", "15.00x / 15.00x"]
    assert cells[5] == "floor 0.1 ms; 0.75x the op-by-op time with nothing cached"
    every = next(
        line for line in table if "each general layer in ONNX Runtime vs PyG eager" in line
    )
    assert every.split(" | ")[4] == "15.00x-15.00x / 15.00x-15.00x"  # the one layer's x_floor


# -- every row's distance to its floor (issue 16) -------------------------------------------

import bench_per_call  # noqa: E402
import bench_triton  # noqa: E402
import floors  # noqa: E402

MACHINE = {"matmul_gflops_1_thread": 1.0, "bandwidth_gbs": 1.0}  # 1 flop, 1 byte = 1e-6 ms
SPEEDUP = "native batched vs native per jet (target >= 4)"
OLD_TRITON_GOAL = {
    "graphs_per_request": 100,
    "versus": "native",
    "triton_p50_over_local_p50": 1.5,
    "triton_cpu_over_local_cpu": 3.0,
    "target": 3.0,
    "met": True,
}


def _triton_row(backend: str, p50_ms: float, cpu_ms: float, floored: bool) -> dict[str, Any]:
    row = {"backend": backend, "graphs_per_request": 100, "in_flight": 1, "p50_ms": p50_ms}
    row |= {"cpu_ms": cpu_ms, "requests_per_s": 1e3 / p50_ms}
    if floored:  # as bench_triton.py records it, on a floor of 2 ms per request
        floor = {"floor_ms": 2.0, "unfused_ms": 4.0}
        row |= floors.against(p50_ms, floor)
        row["x_floor_cpu"] = floors.against(cpu_ms, floor)["x_floor"]
    return row


def _results(floored: bool) -> dict[str, dict[str, Any]]:
    """One result per benchmark, as written with the floors or before them."""
    knn_floor = floors.knn_floor([100], 16, 2, MACHINE)  # 26.4 us: 26,400 bytes moved

    def knn(native_us: float) -> dict[str, Any]:
        run = {
            "us_per_graph": {"100": {"native": native_us, "pykdtree": 2 * native_us}},
            "speed_up_vs_fastest_alternative": {"100": 2.0},
        }
        if floored:
            against = floors.against(native_us / 1e3, knn_floor)
            run["native_vs_floor"] = {"100": {**knn_floor, **against}}
        return run

    def aggregation(export: str, ms: float) -> dict[str, Any]:
        row = {"what": "EdgeConvTagger (default)", "export": export, "threads": 1, "ms": ms}
        row["runs_identical"] = True
        if floored:
            row |= {"floor": FLOOR, **floors.against(ms, FLOOR | {"unfused_ms": 6.1})}
        return row

    def precision(model: str, ms: float) -> dict[str, Any]:
        row = {"model": model, "ms": ms, "speedup": 8.0 / ms, "max_abs_diff_float32": 1e-4}
        return row | (floors.against(ms, {"floor_ms": 2.0, "unfused_ms": 4.0}) if floored else {})

    runtime = {"jets_per_event": 10, "speedups": {SPEEDUP: 2.0}}
    if floored:  # 500 us per event against a floor of 100 us per event
        runtime["native_batched_vs_floor"] = {
            "us_per_event": 500.0,
            **floors.against(500.0 / 1e3, {"floor_ms": 4.0, "unfused_ms": 8.0}, per=40),
            **{f"{k}_per_event": 1000 for k in ("flops", "bytes_lower", "bytes_upper")},
        }
    per_call: dict[str, Any] = {"overheads_us": bench_per_call.overheads(PER_CALL_US)}
    if floored:
        per_call["model_floor_us_per_jet"] = 0.5
        per_call["x_floor"] = bench_per_call.x_floor(PER_CALL_US, 0.5)
    triton_rows = [
        _triton_row("native", 2.0, 4.0, floored),
        _triton_row("triton-grpc", 3.0, 12.0, floored),
    ]
    generate = {
        key: {"overhead_percent": 20.0, **({"x_floor": 1.2} if floored else {})}
        for key in ("mpi_on", "mpi_off")
    }
    return {
        "knn": {"allocators": {"default": knn(264.0), "tuned": knn(132.0)}},
        "aggregation": {"rows": [aggregation("exact", 6.0), aggregation("scatternd", 3.0)]},
        "precision": {
            "readme_event": {"rows": [precision("float32", 8.0), precision("int8", 6.0)]}
        },
        "runtime": {"allocators": {"default": {"m": runtime}}},
        "per_call": per_call,
        "triton": {
            "results": triton_rows,
            "goal": bench_triton.goal(triton_rows) if floored else OLD_TRITON_GOAL,
            "dynamic_batching": {"allowed": True},
        },
        "generate": generate,
    }


def _x_floor_cells(tmp_path: Path, floored: bool) -> dict[str, str]:
    """The x floor cell of every rendered row, by the start of its "compared" cell."""
    for name, result in _results(floored).items():
        (tmp_path / f"{name}.json").write_text(json.dumps({"meta": META, **result}))
    cells = {}
    for line in render_tables.render(tmp_path).splitlines()[2:]:
        if line.startswith("| `"):
            row = [c.strip() for c in line.split("|")[1:-1]]
            cells[row[1]] = row[4]
    return cells


def test_results_written_before_the_floors_render_a_dash(tmp_path: Path) -> None:
    cells = _x_floor_cells(tmp_path, floored=False)
    assert len(cells) >= 15
    assert set(cells.values()) == {"-"}, cells


def test_every_row_shows_its_time_over_its_floor(tmp_path: Path) -> None:
    cells = _x_floor_cells(tmp_path, floored=True)

    def cell(start: str) -> str:
        return next(value for compared, value in cells.items() if compared.startswith(start))

    # 264 and 132 us against the 26.4 us needed to write 1,600 int64 edges at 1 GB/s
    assert cell("native kNN vs the fastest alternative, 100") == "10.00x / 5.00x"
    assert cell("EdgeConvTagger (default): exact vs racy") == "2.40x vs 1.20x"  # 6, 3 / 2.5 ms
    assert cell("`export-onnx --precision int8`") == "3.00x vs 4.00x"  # 6, 8 / 2 ms
    assert cell(SPEEDUP) == "5.00x"  # 500 us per event / (4 ms / 40 events)
    assert cell("small jet, one per call: ONNX Runtime fixed cost") == "1.00x"
    assert cell("small jet, one per call: Python Tagger above native") == "1.50x"  # (8 + 4) / 8
    assert cell("small jet, one per call: model compute") == "40.00x"  # (28 - 8) / 0.5 us
    assert cell("small jet, one per call: native Tagger.run") == "-"  # no floor: its note says
    assert cell("Triton p50 / native p50 at 100") == "1.50x vs 1.00x"  # 3, 2 / 2 ms
    assert cell("Triton CPU (client + server) / native CPU at 100") == "6.00x vs 2.00x"
    assert cell("our cost on top of Pythia, with MPI") == "1.20x"
    positive = [float(v.split("x")[0]) for v in cells.values() if v != "-"]
    assert len(positive) >= 15 and min(positive) > 0
