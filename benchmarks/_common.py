"""What every benchmark shares: the command line of the reduced mode, timing, the record
of where and how a number was measured, the allocator runs, and result writing.

Every result file ``<out>/<name>.json`` carries ``meta``: the machine (CPU model, cores),
versions (e2e_gnn, torch, onnxruntime, torch_geometric, numpy), thread counts, the load
average before and after the run, the allocator settings and the command that made it;
benchmarks that show floors add the machine's measured ``peaks`` (:meth:`Bench.peaks`).

Benchmarks that compare with torch call :meth:`Bench.by_allocator`: the measurement runs
twice, each time in a fresh child process (glibc reads ``MALLOC_*`` only at start-up),
once with glibc's default allocator settings and once tuned (:data:`TUNED_ALLOCATOR`:
no ``mmap``/``munmap`` per large tensor, no heap trimming, hence no page fault per call
in eager torch). The result then has one entry per setting, each with its own ``meta``
(minor page faults included).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
# glibc's largest accepted mmap threshold on 64-bit (HEAP_MAX_SIZE / 2; larger values are
# silently ignored), and a trim threshold no heap of these benchmarks reaches.
TUNED_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**34)}
ALLOCATORS: dict[str, dict[str, str]] = {"default": {}, "tuned": TUNED_ALLOCATOR}
PACKAGES = ("e2e_gnn", "torch", "onnxruntime", "torch_geometric", "numpy")

K = TypeVar("K", bound=Hashable)


# -- command line -------------------------------------------------------------------------


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes: ``--quick`` (a reduced
    form that checks the code works, fast, numbers meaningless) and ``--out`` (the results
    directory)."""
    assert doc, "every benchmark has a docstring"
    parsed = argparse.ArgumentParser(description=doc.splitlines()[0])
    parsed.add_argument(
        "--quick", action="store_true", help="reduced form: checks that the code works"
    )
    parsed.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    # set by by_allocator in the child processes it starts
    parsed.add_argument("--allocator", choices=sorted(ALLOCATORS), help=argparse.SUPPRESS)
    parsed.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    return parsed


def parse(parsed: argparse.ArgumentParser, quick: Mapping[str, Any]) -> argparse.Namespace:
    """The arguments; with ``--quick`` the reduced values in ``quick`` replace the defaults
    (values given on the command line win)."""
    args = parsed.parse_args()
    if args.quick:
        given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in sys.argv[1:]}
        for name, value in quick.items():
            assert hasattr(args, name), f"--quick sets an unknown argument {name!r}"
            if name not in given:
                setattr(args, name, value)
    return args


# -- timing -------------------------------------------------------------------------------


def timer(
    run: Callable[[], object], per: int = 1, clock: Callable[[], float] = time.perf_counter
) -> Callable[[], float]:
    """A timer: seconds of one ``run()`` on ``clock`` divided by ``per`` (items per run).
    ``time.process_time`` (CPU time of this process) is robust against other jobs on a
    shared machine as long as everything runs in this process."""

    def measure() -> float:
        start = clock()
        run()
        return (clock() - start) / per

    return measure


def interleaved(
    timers: Mapping[K, Callable[[], float]], repeat: int, warmup: int = 1
) -> dict[K, list[float]]:
    """``repeat`` samples of every timer, the timers taking turns in every round so that the
    load of a shared machine hits all alike; ``warmup`` untimed rounds first (allocations,
    ONNX Runtime's first-run work, compilation)."""
    for measure in timers.values():
        for _ in range(warmup):
            measure()
    samples: dict[K, list[float]] = {name: [] for name in timers}
    for _ in range(repeat):
        for name, measure in timers.items():
            samples[name].append(measure())
    return samples


def best(run: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``run`` (seconds) over ``repeat`` runs, no warm-up."""
    return min(interleaved({0: timer(run)}, repeat, warmup=0)[0])


def latency(samples_s: list[float]) -> dict[str, float]:
    """p50, p99 and mean of latency samples in seconds, as milliseconds."""
    ms = np.asarray(samples_s) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "mean_ms": round(float(ms.mean()), 4),
        "samples": len(ms),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tree(pid: int) -> set[int]:
    """Process ``pid`` and every process below it."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grown = {pid}, True
    while grown:
        below = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= below
        grown = bool(below)
    return tree


def tree_peak_rss_mb(pid: int | None) -> float | None:
    """Sum of the peak resident memory (VmHWM) of process ``pid`` and every process below it
    (a server and its workers), in MB; None when it is not running."""
    if pid is None:
        return None
    total_kb = 0
    for member in _tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        total_kb += next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0
        )
    return round(total_kb / 1024, 1)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and every process below it."""
    ticks = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def run_cli(*args: str) -> None:
    """Runs ``e2e-gnn ARGS`` of this environment; raises CalledProcessError on failure."""
    executable = Path(sys.executable).parent / "e2e-gnn"
    subprocess.run([str(executable), *args], check=True, capture_output=True, text=True)


def generate_events(out: Path, task: str, events: int, seed: int, mpi: bool = False) -> None:
    """``e2e-gnn generate`` of ``events`` events of ``task`` into ``out`` on 2 workers
    (without multiparton interactions unless ``mpi``: the benchmarks' samples)."""
    flags = [] if mpi else ["--no-mpi"]
    run_cli(
        "generate", "--task", task, "--events", str(events), "--seed", str(seed),
        "--workers", "2", *flags, "--out", str(out),
    )  # fmt: skip


def triton_missing() -> str | None:
    """Why no tritonserver can run here (one line), or None when one can."""
    try:
        import tritonclient  # noqa: F401

        from e2e_gnn.triton import find_tritonserver

        find_tritonserver()
    except Exception as err:  # ImportError, TritonServerError: reported by the caller
        return f"{type(err).__name__}: {err}".splitlines()[0]
    return None


def compiled(module: Any) -> Any:
    """``torch.compile`` of ``module`` for graphs of any size (dynamic shapes): the peer a
    torch user would pick next to eager mode."""
    import torch

    return torch.compile(module, dynamic=True)


# -- what was measured where --------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def allocator() -> dict[str, Any]:
    """The glibc allocator settings of this process and the minor page faults so far."""
    variables = {name: os.environ.get(name) for name in TUNED_ALLOCATOR}
    setting = next((s for s, env in ALLOCATORS.items() if env == variables), None)
    if setting is None and not any(variables.values()):
        setting = "default"
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"setting": setting or "custom", **variables, "minor_page_faults": usage.ru_minflt}


def threads(**measured: int) -> dict[str, Any]:
    """Thread counts: the ones a benchmark states, torch's when it is loaded, and the
    environment variables that set them."""
    found: dict[str, Any] = dict(measured)
    torch = sys.modules.get("torch")
    if torch is not None:
        found["torch"] = torch.get_num_threads()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        found[name] = os.environ.get(name)
    return found


def rerun(extra: list[str], variables: Mapping[str, str] | None = None) -> dict[str, Any]:
    """This script's command line plus ``extra``, run in a fresh process with the allocator
    variables ``variables`` (none: glibc's defaults): the result it hands back with
    :meth:`Bench.to_parent`."""
    env = {k: v for k, v in os.environ.items() if k not in TUNED_ALLOCATOR}
    with tempfile.TemporaryDirectory() as tmp:
        child_out = Path(tmp) / "child.json"
        command = [sys.executable, sys.argv[0], *sys.argv[1:], *extra]
        subprocess.run(
            [*command, "--child-out", str(child_out)], env=env | dict(variables or {}), check=True
        )
        return json.loads(child_out.read_text())


class Bench:
    """One benchmark run: its arguments and the load average when it started; writes the
    result with its ``meta``."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        self.name = name
        self.args = args
        self.load_before = os.getloadavg()
        self.started = time.perf_counter()
        self._peaks: dict[str, Any] | None = None

    def peaks(self) -> dict[str, Any]:
        """This machine's matmul peaks and memory bandwidth (benchmarks/floors.py), measured
        at the first call of this run and recorded in ``meta`` as ``peaks``."""
        if self._peaks is None:
            import floors

            self._peaks = floors.peaks(quick=bool(self.args.quick))
        return self._peaks

    def meta(self, **thread_counts: int) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "command": shlex.join(["python", f"benchmarks/bench_{self.name}.py", *self._argv()]),
            "quick": bool(self.args.quick),
            "machine": machine(),
            "versions": versions(),
            "threads": threads(**thread_counts),
            "allocator": allocator(),
            "load_average_before": [round(v, 2) for v in self.load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "seconds": round(time.perf_counter() - self.started, 1),
            **({"peaks": self._peaks} if self._peaks is not None else {}),
        }

    def _argv(self) -> list[str]:
        argv, skip = [], False
        for arg in sys.argv[1:]:
            if skip:
                skip = False
            elif arg in ("--allocator", "--child-out", "--out"):
                skip = True
            elif not arg.startswith(("--allocator=", "--child-out=", "--out=")):
                argv.append(arg)
        return argv

    def by_allocator(
        self, measure: Callable[[], dict[str, Any]], **thread_counts: int
    ) -> dict[str, Any]:
        """``measure()`` once per setting of :data:`ALLOCATORS`, each in a child process
        running this script with that environment: ``{setting: result with its meta}``.

        In the child (``--allocator`` given) this measures, writes and exits. With
        ``--quick`` it measures once, here, under this process's settings."""
        if self.args.quick and self.args.allocator is None:
            result = measure()
            result["meta"] = self.meta(**thread_counts)
            return {result["meta"]["allocator"]["setting"]: result}
        if self.args.allocator is not None:
            result = measure()
            result["meta"] = self.meta(**thread_counts)
            self.to_parent(result)
        results = {}
        for setting, variables in ALLOCATORS.items():
            print(f"== allocator: {setting} {variables or ''}", flush=True)
            results[setting] = rerun(["--allocator", setting], variables)
        return results

    def to_parent(self, result: dict[str, Any]) -> NoReturn:
        """In a child started by :func:`rerun`: hands ``result`` to the parent and exits."""
        self.args.child_out.write_text(json.dumps(result, indent=2) + "\n")
        raise SystemExit(0)

    def write(self, result: dict[str, Any], **thread_counts: int) -> Path:
        """``<out>/<name>.json`` with ``meta`` first."""
        path = self.args.out / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"meta": self.meta(**thread_counts), **result}
        path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {path}")
        return path
