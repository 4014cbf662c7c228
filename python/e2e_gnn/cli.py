"""The e2e-gnn command line: one app, a command per step of the data flow.

Commands that need torch (train, export-onnx, demo) import it when they run, so that
``e2e-gnn infer`` and ``e2e-gnn inspect`` work in an inference-only install. The commands
whose code lives with their stage of the data flow (generate, frames, train, triton-repo,
serve) are imported only when named, so that ``e2e-gnn infer`` does not pay for importing
the generator, the frame producers or the Triton client.
"""

from __future__ import annotations

import importlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from e2e_gnn.runtime.backends import BACKENDS
from e2e_gnn.runtime.tagger import Tagger

console = Console()

# command name -> (module, attribute, the pip extra its third-party imports come with)
LAZY_COMMANDS = {
    "generate": ("e2e_gnn.generate.cli", "generate_command", "gen"),
    "frames": ("e2e_gnn.frames.cli", "frames_command", None),
    "train": ("e2e_gnn.train.cli", "train_command", "train"),
    "triton-repo": ("e2e_gnn.triton.cli", "triton_repo_command", "triton"),
    "serve": ("e2e_gnn.triton.cli", "serve_command", "triton"),
}


class LazyGroup(click.Group):
    """A click group that imports the commands of ``LAZY_COMMANDS`` when they are named."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute, extra = LAZY_COMMANDS[cmd_name]
        try:
            command: click.Command = getattr(importlib.import_module(module), attribute)
        except ModuleNotFoundError as err:
            if extra is None or (err.name or "e2e_gnn").split(".")[0] == "e2e_gnn":
                raise
            return _needs_extra(cmd_name, extra, err)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="e2e-gnn")
def main() -> None:
    """e2e_gnn: HEP GNN taggers from PyTorch training to ONNX Runtime, C++ and Triton."""


@main.command("export-onnx")
@click.option(
    "--recipe",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An export recipe (export/<name>.toml) instead of the options below.",
)
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Model name recorded in the metadata (default: file stem).")
@click.option(
    "--atol", default=1e-5, show_default=True, help="Parity tolerance vs torch (absolute)."
)
@click.option(
    "--rtol",
    default=1e-6,
    show_default=True,
    help="Parity tolerance relative to |torch|: passes when |torch - onnx| <= atol + rtol |torch|.",
)
@click.option(
    "--triton-repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write Triton model repository entries for the model into DIR.",
)
@click.option(
    "--fused-ops",
    is_flag=True,
    help="Export aggregations as e2e_gnn's fused operators (domain ai.e2e_gnn): faster; "
    "runs where e2e_gnn's custom operator library is loaded (all e2e_gnn runtimes).",
)
@click.option(
    "--precision",
    type=click.Choice(["float32", "int8", "fp16", "bf16"]),
    default="float32",
    show_default=True,
    help="int8/fp16: also derive a reduced-precision model from the float32 export (ONNX "
    "Runtime's quantisation tools) and write it instead, if its scores on --validation stay "
    "within --max-score-diff and --max-auc-change of float32 (docs/precision.md). Taggers "
    "only; bf16 is refused (no bfloat16 kernels in ONNX Runtime's CPU provider).",
)
@click.option(
    "--validation",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --precision int8/fp16: a labelled graph or frames file (as `e2e-gnn train` "
    "writes, e.g. validation_graphs.root) on which float32 and reduced models are compared.",
)
@click.option(
    "--max-score-diff",
    type=click.FloatRange(min=0),
    help="With --precision: the largest |score difference| to float32 allowed on "
    "--validation  [default: 1e-2]",
)
@click.option(
    "--max-auc-change",
    type=click.FloatRange(min=0),
    help="With --precision: the largest |ROC AUC change| from float32 allowed on "
    "--validation  [default: 1e-3]",
)
def export_onnx_command(
    recipe: Path | None,
    checkpoint: Path | None,
    out: Path | None,
    name: str | None,
    atol: float,
    rtol: float,
    triton_repo: Path | None,
    fused_ops: bool,
    precision: str,
    validation: Path | None,
    max_score_diff: float | None,
    max_auc_change: float | None,
) -> None:
    """Export a checkpoint to ONNX after checking parity against torch; refuses to write
    (non-zero exit) a model that disagrees with torch. With --precision int8/fp16 the
    written model is the reduced one, refused when it departs from float32 on --validation
    beyond the tolerances."""
    from e2e_gnn.export import (
        ParityError,
        UnsupportedOperationError,
        default_example,
        export_onnx,
    )
    from e2e_gnn.export.parity import DEFAULT_EXAMPLE_SIZES, training_scale
    from e2e_gnn.export.recipe import Recipe
    from e2e_gnn.train.checkpoint import load_checkpoint

    if precision == "float32" and any(
        given is not None for given in (validation, max_score_diff, max_auc_change)
    ):
        msg = "--validation, --max-score-diff and --max-auc-change are for --precision int8/fp16"
        raise click.UsageError(msg)
    if precision != "float32" and validation is None:
        msg = (
            f"--precision {precision} needs --validation FILE: a labelled graph or frames file "
            "on which the reduced model is compared with float32"
        )
        raise click.UsageError(msg)
    seed, sizes = 0, DEFAULT_EXAMPLE_SIZES
    try:
        if recipe is not None:
            loaded = Recipe.load(recipe)
            checkpoint, out, name = loaded.checkpoint, loaded.output, loaded.name
            atol, rtol = loaded.atol, loaded.rtol
            fused_ops = fused_ops or loaded.fused_ops
            seed, sizes = loaded.example_seed, loaded.example_sizes
        if checkpoint is None or out is None:
            msg = "give --recipe, or both --checkpoint and --out"
            raise click.UsageError(msg)
        model, spec = load_checkpoint(checkpoint, name or out.stem)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(_one_line(err)) from err
    sample = None
    if validation is not None:
        from e2e_gnn.export import export_spec
        from e2e_gnn.export.precision import check_supported, read_validation

        try:  # before the export: a wrong file or model fails in seconds
            check_supported(export_spec(model, spec), precision)
            sample = read_validation(spec, validation)
        except (OSError, ValueError, KeyError) as err:  # e2e_gnn.io errors, PrecisionError
            raise click.ClickException(_one_line(err)) from err
    with tempfile.TemporaryDirectory() as tmp:
        # with --precision the float32 export is the reference, not the file written
        float32_out = out if sample is None else Path(tmp) / out.name
        try:
            example = default_example(spec, seed, sizes, training_scale(model))
            report = export_onnx(
                model, spec, float32_out, example, atol=atol, rtol=rtol, fused_ops=fused_ops
            )
        except ParityError as err:
            console.print(err.report.table(), markup=False, soft_wrap=True)
            raise click.ClickException(str(err).splitlines()[0]) from err
        except UnsupportedOperationError as err:
            raise click.ClickException(str(err)) from err
        console.print(report.table(), markup=False, soft_wrap=True)
        parity = f"max |torch - onnx| = {report.max_abs_diff:.2g}"
        if sample is not None:
            _write_reduced(float32_out, out, precision, sample, max_score_diff, max_auc_change)
            parity = f"{precision}; float32 {parity}"
    console.print(f"wrote {out} ({parity})", markup=False, soft_wrap=True)
    if triton_repo is not None:
        from e2e_gnn.triton.cli import print_repository
        from e2e_gnn.triton.repository import write_repository

        print_repository(write_repository(out, triton_repo))


def _write_reduced(
    float32: Path,
    out: Path,
    precision: str,
    sample: Any,
    max_score_diff: float | None,
    max_auc_change: float | None,
) -> None:
    """export-onnx --precision: the reduced model derived from the float32 export, written
    to ``out`` when its physics check passes (e2e_gnn.export.precision)."""
    from e2e_gnn.export.precision import (
        DEFAULT_MAX_AUC_CHANGE,
        DEFAULT_MAX_SCORE_DIFF,
        PrecisionError,
        ToleranceError,
        write_reduced,
    )

    score_diff = DEFAULT_MAX_SCORE_DIFF if max_score_diff is None else max_score_diff
    auc_change = DEFAULT_MAX_AUC_CHANGE if max_auc_change is None else max_auc_change
    try:
        check = write_reduced(float32, out, precision, sample, score_diff, auc_change)
    except ToleranceError as err:
        console.print(err.check.table(), markup=False, soft_wrap=True)
        raise click.ClickException(str(err)) from err
    except PrecisionError as err:
        raise click.ClickException(_one_line(err)) from err
    console.print(check.table(), markup=False, soft_wrap=True)


def _one_line(err: BaseException) -> str:
    """An error message on one line (uproot and onnxruntime messages span several)."""
    return " ".join(str(err).split())


# what `infer` reports as one line: bad files (e2e_gnn.io's errors are OSError, ValueError
# or KeyError subclasses), models (ValueError, SpecError), inputs (TypeError) and servers
# (the Triton client's RuntimeError subclasses)
INFER_ERRORS = (OSError, ValueError, TypeError, KeyError, RuntimeError)


@main.command()
@click.argument("inputs", nargs=-1)
@click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="An ONNX file written by `e2e-gnn export-onnx`.",
)
@click.option(
    "--graphs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="One graph file (graph models): .root/.parquet/.npz written by e2e_gnn.io.write_graphs "
    "(`e2e-gnn train`'s validation_graphs.root, `e2e-gnn frames --kind objects`).",
)
@click.option(
    "--frames",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="One frames file (frame models, e.g. `e2e-gnn train --model cnn`): .root/.parquet "
    "written by `e2e-gnn frames`.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="With --graphs/--frames: the scores file (.npz, .csv, .root or .parquet; columns "
    "`score` or `score_<k>`, then the input's per-row columns: event, index, label; a model "
    "with other outputs: `<output>` or `<output>_<k>`, per-node outputs as jagged columns "
    "next to a jagged `node_index`, in .root or .parquet). With "
    "INPUTS: a directory getting one <input stem>.parquet (or --format root) per input, with "
    "the columns `file` and `row` too.",
)
@click.option("--backend", type=click.Choice(sorted(BACKENDS)), default="native", show_default=True)
@click.option(
    "--url",
    help="With --backend triton: the server's host:port (default: the Triton client's, "
    "127.0.0.1:8000).",
)
@click.option("--threads", default=1, show_default=True, help="ONNX Runtime threads per process.")
@click.option(
    "--per-call",
    "--graphs-per-call",
    "per_call",
    type=click.IntRange(min=1),
    default=1024,
    show_default=True,
    help="Graphs or frames per inference call.",
)
@click.option(
    "--skip-checksum",
    is_flag=True,
    help="Do not verify the model's checksum at load (it costs ~2 ms per 10 MB of model).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="With INPUTS: processes on this machine, or a dask.distributed cluster.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="With INPUTS: worker processes (local, or the LocalCluster of --executor dask "
    "without --scheduler); default: the cores of this machine.",
)
@click.option(
    "--scheduler",
    help="With --executor dask: a running scheduler's address (tcp://host:8786); without "
    "it a LocalCluster is started for the run.",
)
@click.option(
    "--schema",
    help="With INPUTS: they are event files read with this schema (nanoaod, e2e_gnn or a "
    "TOML file), and the producer the model's spec names makes its graphs or frames.",
)
@click.option(
    "--step-size",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="With --schema: events per chunk.",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["parquet", "root", "dataset"]),
    default="parquet",
    show_default=True,
    help="With INPUTS: the format of the score files; dataset: --out DIR becomes one parquet "
    "dataset (one part per input, read as one table by pyarrow, awkward or pandas).",
)
def infer(
    inputs: tuple[str, ...],
    model: Path,
    graphs: Path | None,
    frames: Path | None,
    out: Path,
    backend: str,
    url: str | None,
    threads: int,
    per_call: int,
    skip_checksum: bool,
    executor: str,
    workers: int | None,
    scheduler: str | None,
    schema: str | None,
    step_size: int,
    out_format: str,
) -> None:
    """Score the graphs of graph files (graph models) or the frames of frames files (frame
    models) with an exported model.

    One file: --graphs or --frames, and --out FILE. Many files: INPUTS (files, glob
    patterns such as 'data/*.root', or .txt files listing them) and --out DIR, scored in
    parallel (--executor, --workers); a re-run skips the inputs whose outputs are complete.
    With --schema the INPUTS are event files (e.g. NanoAOD) turned into the model's inputs
    by the producer its spec names.
    A file that cannot be read is reported and the others complete; the command then exits
    non-zero.
    """
    if url is not None and backend != "triton":
        msg = f"--url is for --backend triton, not {backend}"
        raise click.UsageError(msg)
    options: dict[str, Any] = {} if url is None else {"url": url}
    if not inputs and schema is not None:
        msg = "--schema is for INPUTS (event files), not --graphs/--frames"
        raise click.UsageError(msg)
    if inputs:
        if graphs is not None or frames is not None:
            msg = "give INPUTS (many files) or one of --graphs/--frames (one file), not both"
            raise click.UsageError(msg)
        if scheduler is not None and executor != "dask":
            msg = "--scheduler is for --executor dask"
            raise click.UsageError(msg)
        _infer_many(
            model,
            inputs,
            out,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            backend=backend,
            threads=threads,
            per_call=per_call,
            suffix=".parquet" if out_format == "dataset" else f".{out_format}",
            dataset=out_format == "dataset",
            verify_checksum=not skip_checksum,
            schema=schema,
            step_size=step_size,
            **options,
        )
        return
    _infer_one(model, graphs, frames, out, backend, threads, per_call, skip_checksum, options)


def _infer_one(
    model: Path,
    graphs: Path | None,
    frames: Path | None,
    out: Path,
    backend: str,
    threads: int,
    per_call: int,
    skip_checksum: bool,
    options: dict[str, Any],
) -> None:
    from e2e_gnn.io import FRAME_FILES, GRAPH_FILES, SCORE_FILES, write_scores
    from e2e_gnn.runtime.many_files import model_inputs

    if (graphs is None) == (frames is None):
        msg = (
            "give exactly one of --graphs (graph models) and --frames (frame models), or "
            "INPUTS (many files)"
        )
        raise click.UsageError(msg)
    for path, formats, option in (
        (graphs, GRAPH_FILES, "--graphs"),
        (frames, FRAME_FILES, "--frames"),
        (out, SCORE_FILES, "--out"),
    ):
        if path is not None and path.suffix.lower() not in formats:
            msg = f"unsupported file type {path.suffix!r} for {str(path)!r}; use one of {formats}"
            raise click.BadParameter(msg, param_hint=option)
    source = graphs if graphs is not None else frames
    assert source is not None
    try:
        with Tagger(
            model, backend=backend, threads=threads, verify_checksum=not skip_checksum, **options
        ) as tagger:
            spec = tagger.spec
            if spec.is_graph_model != (graphs is not None):
                kind, option = (
                    ("a graph", "--graphs") if spec.is_graph_model else ("a frame", "--frames")
                )
                msg = f"{str(model)!r} is {kind} model: give its inputs with {option}"
                raise click.UsageError(msg)
            inputs, columns = model_inputs(spec, source)
            start = time.perf_counter()
            outputs = tagger.outputs(inputs, per_call)
            elapsed = time.perf_counter() - start
        write_scores(out, outputs, **columns)
    except INFER_ERRORS as err:
        raise click.ClickException(_one_line(err)) from err
    what = "graphs" if graphs is not None else "frames"
    console.print(
        f"scored {len(inputs)} {what} with {backend} in {elapsed * 1e3:.1f} ms -> {out}",
        soft_wrap=True,
        markup=False,
    )


def _infer_many(model: Path, inputs: tuple[str, ...], out: Path, **settings: Any) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from e2e_gnn.runtime.many_files import FileResult, expand_inputs, infer_files

    try:
        paths = expand_inputs(inputs)
    except ValueError as err:
        raise click.UsageError(_one_line(err)) from err
    columns = (
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        "files, {task.fields[rows]} rows",
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("scoring", total=len(paths), rows=0)
        rows = 0

        def advance(result: FileResult) -> None:
            nonlocal rows
            rows += result.rows
            bar.update(task, advance=1, rows=rows)

        try:
            summary = infer_files(model, paths, out, progress=advance, **settings)
        except INFER_ERRORS as err:
            raise click.ClickException(_one_line(err)) from err
    for line in summary.lines():
        console.print(line, soft_wrap=True, markup=False)
    if not summary.ok:
        raise SystemExit(1)


# The quick forms in the order they start: first those that mostly wait for servers and
# worker processes (tritonserver, dask clusters: many_files takes 51 s of wall time for 36 s
# of CPU), so that the others fill the cores meanwhile; then the longest (20-26 s of CPU
# each, measured), so that no long one runs alone at the end; the others after them.
QUICK_FIRST = ("many_files", "triton", "algebra", "precision", "layers", "coffea")
# The physics studies among the benchmarks: they train taggers for their numbers (over an
# hour together on two cores) and are left out by `bench --performance`.
TRAINING_STUDIES = ("calibration", "learning_curve", "physics")


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("name", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--quick",
    is_flag=True,
    help="Every benchmark (or NAME) in its reduced form: checks that the code works, numbers "
    "meaningless; results go to a temporary directory unless --out is given.",
)
@click.option(
    "--all",
    "run_all",
    is_flag=True,
    help="Every benchmark in full, one after the other (the numbers and plots the README "
    "cites; the physics studies that train taggers last), then the tables of "
    "docs/benchmarks.md and the README's summary (benchmarks/render_tables.py).",
)
@click.option(
    "--performance",
    is_flag=True,
    help="As --all, without the physics studies that train taggers (calibration, "
    "learning_curve, physics): every number of the README's performance table and its "
    "plots.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Results directory (default: benchmarks/results).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="With --quick: benchmarks run at once (default: cores + 1; --all runs one at a time).",
)
def bench(
    name: str | None,
    args: tuple[str, ...],
    quick: bool,
    run_all: bool,
    performance: bool,
    out: Path | None,
    jobs: int | None,
) -> None:
    """Run benchmarks/bench_NAME.py of this checkout (extra ARGS go to the script).

    Each benchmark measures e2e_gnn against the alternative in the same run and writes
    benchmarks/results/NAME.json (and its plots). Each benchmark runs in its own process;
    the command reports which failed, and each one's wall and CPU time.
    """
    import os
    import sys
    import tempfile
    from concurrent.futures import ThreadPoolExecutor, as_completed

    scripts = Path.cwd() / "benchmarks"
    found = sorted(p.stem.removeprefix("bench_") for p in scripts.glob("bench_*.py"))
    if not found:
        msg = f"no benchmarks in {scripts}: run from an e2e_gnn checkout"
        raise click.ClickException(msg)
    if run_all and performance:
        msg = "--performance is --all without the training studies: give one of them"
        raise click.UsageError(msg)
    if (run_all or performance) and (quick or name or jobs):
        option = "--all" if run_all else "--performance"
        msg = f"{option} runs every benchmark in full, one at a time: no NAME, --quick or --jobs"
        raise click.UsageError(msg)
    if name is not None and name not in found:
        msg = f"no benchmark {name!r} in {scripts}; have {found}"
        raise click.ClickException(msg)
    if not (name or quick or run_all or performance):
        msg = f"give a benchmark NAME, --quick, --performance or --all; have {found}"
        raise click.UsageError(msg)
    names = [name] if name else found
    if performance:
        names = [each for each in names if each not in TRAINING_STUDIES]
        run_all = True
    if run_all:  # the timings first, on the machine as quiet as the user left it
        names.sort(key=lambda each: each in TRAINING_STUDIES)
    if quick:
        first = {each: order for order, each in enumerate(QUICK_FIRST)}
        names.sort(key=lambda each: first.get(each, len(first)))
    jobs = jobs or ((os.cpu_count() or 1) + 1 if quick else 1)
    with tempfile.TemporaryDirectory() as tmp:
        results = out or (Path(tmp) if quick else scripts / "results")

        def run(each: str) -> tuple[str, int, float, float]:
            command = [sys.executable, str(scripts / f"bench_{each}.py"), *args]
            command += ["--quick"] * quick + ["--out", str(results)]
            if jobs == 1:
                console.print(f"[bold]== {each}[/] {' '.join(command[1:])}", soft_wrap=True)
            log = Path(tmp) / f"{each}.log" if jobs > 1 else None
            return (each, *_run_measured(command, log))

        started = time.perf_counter()
        failed = []
        with ThreadPoolExecutor(jobs) as pool:
            for done in as_completed([pool.submit(run, each) for each in names]):
                each, code, seconds, cpu = done.result()
                state = "[green]ok[/]" if code == 0 else f"[red]failed ({code})[/]"
                console.print(f"== {each}: {state} in {seconds:.0f} s ({cpu:.0f} s of CPU)")
                if code != 0:
                    failed.append(each)
                    log = Path(tmp) / f"{each}.log"
                    if log.is_file():
                        tail = log.read_text(errors="replace").splitlines()[-30:]
                        console.print("\n".join(tail), markup=False, highlight=False)
        if run_all and not failed:
            render = [sys.executable, str(scripts / "render_tables.py"), "--results", str(results)]
            if results == scripts / "results":
                render += ["--write", str(Path.cwd() / "docs" / "benchmarks.md")]
                render += ["--summary", str(Path.cwd() / "README.md")]
            if _run_measured(render, None)[0] != 0:
                failed.append("render_tables")
        where = "a temporary directory, removed" if results == Path(tmp) else str(results)
    if failed:
        msg = f"{len(failed)} of {len(names)} benchmark(s) failed: {', '.join(failed)}"
        raise click.ClickException(msg)
    console.print(
        f"{len(names)} benchmark(s) ran ({'quick' if quick else 'full'}) in "
        f"{time.perf_counter() - started:.0f} s; results in {where}"
    )


def _run_measured(command: list[str], log: Path | None) -> tuple[int, float, float]:
    """Run ``command`` (output to ``log`` when given, else to this terminal): its exit code,
    wall seconds and CPU seconds (user + system, its own and its children's)."""
    import contextlib
    import os
    import subprocess

    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(log, "w")) if log is not None else None
        merged = subprocess.STDOUT if sink is not None else None
        process = subprocess.Popen(command, stdout=sink, stderr=merged)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - start, usage.ru_utime + usage.ru_stime


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inspect(model: Path) -> None:
    """Print the metadata an exported model carries."""
    from e2e_gnn.model_file import ModelFile
    from e2e_gnn.spec import CHECKSUM_KEY, SPEC_KEY, VERSION_KEY

    try:
        model_file = ModelFile.read(model)
    except (OSError, ValueError) as err:  # SpecError and ChecksumError are ValueErrors
        raise click.ClickException(_one_line(err)) from err
    spec, metadata = model_file.spec, model_file.metadata
    console.print(f"[bold]{model}[/]  e2e_gnn {model_file.version}  opset {model_file.opset}")
    console.print(f"checksum {model_file.checksum}")
    if model_file.custom_domains:
        domains = ", ".join(model_file.custom_domains)
        console.print(f"custom operators: {domains} (fused; e2e_gnn's runtimes load them)")
    table = Table("tensor", "dtype", "shape", "meaning")
    for tensor in (*spec.inputs, *spec.outputs):
        table.add_row(tensor.name, tensor.dtype, str(list(tensor.shape)), tensor.meaning)
    console.print(table)
    console.print_json(json.dumps(json.loads(metadata[SPEC_KEY]), indent=2))
    # records beside the spec, e.g. e2e_gnn.precision (export-onnx --precision)
    for key in sorted(metadata.keys() - {SPEC_KEY, CHECKSUM_KEY, VERSION_KEY}):
        if key.startswith("e2e_gnn."):
            console.print(f"[bold]{key}[/]")
            console.print(metadata[key], markup=False, soft_wrap=True)


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/demo"),
    show_default=True,
)
@click.option("--events", default=2000, show_default=True, help="Pythia8 events to generate.")
@click.option("--epochs", default=4, show_default=True)
@click.option("--seed", default=0, show_default=True)
def demo(out: Path, events: int, epochs: int, seed: int) -> None:
    """The main job: generate, frame, train, export with parity check, infer everywhere."""
    from e2e_gnn.demo import DemoConfig, run_demo

    run_demo(DemoConfig(out=out, events=events, epochs=epochs, seed=seed), console)


def _needs_extra(name: str, extra: str, error: ModuleNotFoundError) -> click.Command:
    """Stands in for a command whose optional dependencies are not installed."""

    @click.command(name, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        msg = f"`e2e-gnn {name}` needs {error.name!r}: pip install 'e2e-gnn[{extra}]'"
        raise click.ClickException(msg)

    command.help = f"(needs: pip install 'e2e-gnn[{extra}]')"
    return command
