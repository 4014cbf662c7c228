"""The benchmark suite works: `e2e-gnn bench --quick` runs every benchmark in its reduced
form and each writes its result with the shared record (machine, versions, threads,
allocator, load); the allocator runs really start torch's peers under each setting; the
tables render from what the suite wrote. Nothing here is about speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
E2E_GNN = Path(sys.executable).with_name("e2e-gnn")
META = ("machine", "versions", "threads", "allocator", "load_average_before", "load_average_after")

sys.path.insert(0, str(BENCHMARKS))
import _common  # noqa: E402
import render_tables  # noqa: E402


def benchmarks() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in BENCHMARKS.glob("bench_*.py"))


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Every benchmark's quick result, from one `e2e-gnn bench --quick`, and the names of
    the benchmarks it ran."""
    out = tmp_path_factory.mktemp("bench_quick")
    names = benchmarks()
    done = subprocess.run(
        [str(E2E_GNN), "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    (out / "quick.log").write_text(done.stdout)  # per-benchmark wall and CPU time
    return out, names


# the whole suite in one command: slow, and bench_triton starts a real tritonserver
@pytest.mark.slow
@pytest.mark.triton
@pytest.mark.timeout(900)
def test_every_benchmark_writes_its_record(quick_results: tuple[Path, list[str]]) -> None:
    out, names = quick_results
    for name in names:
        result = json.loads((out / f"{name}.json").read_text())
        meta = result["meta"]
        assert meta["quick"] is True, name
        assert all(key in meta for key in META), (name, sorted(meta))
        assert meta["machine"]["cores"] == os.cpu_count(), name
        assert meta["versions"]["onnxruntime"], name
    for plot in ("scaling_nodes", "scaling_graphs", "scaling_threads"):
        assert (out / f"{plot}.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.triton
@pytest.mark.timeout(900)
def test_tables_render_from_the_results(
    quick_results: tuple[Path, list[str]], tmp_path: Path
) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"head\n{render_tables.BEGIN}\nold\n{render_tables.END}\ntail\n")
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "render_tables.py"),
            *("--results", str(quick_results[0]), "--write", str(page)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    assert text.startswith("head\n") and text.endswith("tail\n") and "\nold\n" not in text
    for name in render_tables.RENDERERS:
        assert f"| `{name}` |" in text, name
    assert "Quick runs (numbers meaningless)" in text


def test_by_allocator_starts_each_setting_in_its_own_process(tmp_path: Path) -> None:
    script = tmp_path / "bench_probe.py"
    script.write_text(
        textwrap.dedent(
            f'''
            """Probe: which allocator variables a measurement sees."""
            import os, sys
            sys.path.insert(0, {str(BENCHMARKS)!r})
            import _common

            parser = _common.parser(__doc__)
            args = _common.parse(parser, {{}})
            bench = _common.Bench("probe", args)
            seen = bench.by_allocator(
                lambda: {{"env": {{k: os.environ.get(k) for k in _common.TUNED_ALLOCATOR}},
                          "pid": os.getpid()}}
            )
            bench.write({{"allocators": seen}})
            '''
        )
    )
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "1"}  # the parent's own must not leak
    subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)], env=env, check=True, timeout=120
    )
    result = json.loads((tmp_path / "probe.json").read_text())
    runs = result["allocators"]
    assert set(runs) == {"default", "tuned"}
    assert runs["default"]["env"] == dict.fromkeys(_common.TUNED_ALLOCATOR)
    assert runs["tuned"]["env"] == _common.TUNED_ALLOCATOR
    assert runs["default"]["pid"] != runs["tuned"]["pid"] != os.getpid()
    assert runs["tuned"]["meta"]["allocator"]["setting"] == "tuned"
    assert runs["default"]["meta"]["allocator"]["setting"] == "default"
    assert result["meta"]["allocator"]["setting"] == "custom"  # the parent's own variables
    assert "--allocator" not in runs["tuned"]["meta"]["command"]


def test_quick_values_yield_to_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = _common.parser("probe")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--events", type=int, default=40)
    monkeypatch.setattr(sys, "argv", ["bench_probe.py", "--quick", "--events=7"])
    args = _common.parse(parser, {"repeat": 2, "events": 3})
    assert (args.repeat, args.events) == (2, 7)
    monkeypatch.setattr(sys, "argv", ["bench_probe.py", "--repeat", "5"])
    args = _common.parse(parser, {"repeat": 2})
    assert args.repeat == 5 and not args.quick


def test_bench_command_errors_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from e2e_gnn.cli import main

    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    missing = runner.invoke(main, ["bench", "nope"])
    assert missing.exit_code == 1
    assert "no benchmark 'nope'" in missing.output and "'knn'" in missing.output
    both = runner.invoke(main, ["bench", "--all", "--quick"])
    assert both.exit_code == 2 and "--all runs every benchmark in full" in both.output
    performance = runner.invoke(main, ["bench", "--performance", "layers"])
    assert performance.exit_code == 2 and "--performance runs every benchmark" in performance.output
    twice = runner.invoke(main, ["bench", "--performance", "--all"])
    assert twice.exit_code == 2 and "--performance is --all without" in twice.output
    neither = runner.invoke(main, ["bench"])
    assert neither.exit_code == 2 and "give a benchmark NAME, --quick, --performance or --all" in (
        neither.output
    )
    monkeypatch.chdir(ROOT / "docs")
    elsewhere = runner.invoke(main, ["bench", "--quick"])
    assert elsewhere.exit_code == 1 and "run from an e2e_gnn checkout" in elsewhere.output


@pytest.mark.parametrize("mode", ["--all", "--performance"])
def test_full_runs_time_first_and_train_last(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--all runs the timing benchmarks before the physics studies that train taggers (their
    numbers do not depend on a quiet machine); --performance leaves those out. Each stand-in
    script only records that it ran, then the tables render."""
    from click.testing import CliRunner

    from e2e_gnn.cli import TRAINING_STUDIES, main

    scripts = tmp_path / "benchmarks"
    scripts.mkdir()
    ran = tmp_path / "ran.txt"
    names = ["aggregation", *TRAINING_STUDIES, "layers", "triton"]
    for name in [*names, "render_tables"]:
        prefix = "" if name == "render_tables" else "bench_"
        (scripts / f"{prefix}{name}.py").write_text(
            f"with open({str(ran)!r}, 'a') as f:\n    print({name!r}, file=f)\n"
        )
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(main, ["bench", mode, "--out", str(tmp_path / "results")])
    assert done.exit_code == 0, done.output
    timing = ["aggregation", "layers", "triton"]
    expected = timing + sorted(TRAINING_STUDIES) * (mode == "--all") + ["render_tables"]
    assert ran.read_text().split() == expected
