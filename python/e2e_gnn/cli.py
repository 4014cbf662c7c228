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
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from e2e_gnn.graphs.batch import GraphBatch
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
@click.option("--atol", default=1e-5, show_default=True, help="Parity tolerance vs torch.")
@click.option(
    "--triton-repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write Triton model repository entries for the model into DIR.",
)
def export_onnx_command(
    recipe: Path | None,
    checkpoint: Path | None,
    out: Path | None,
    name: str | None,
    atol: float,
    triton_repo: Path | None,
) -> None:
    """Export a checkpoint to ONNX after checking parity against torch; refuses to write
    (non-zero exit) a model that disagrees with torch."""
    from e2e_gnn.export import (
        ParityError,
        UnsupportedOperationError,
        default_example,
        export_onnx,
    )
    from e2e_gnn.export.parity import DEFAULT_EXAMPLE_SIZES
    from e2e_gnn.export.recipe import Recipe
    from e2e_gnn.train.checkpoint import load_checkpoint

    seed, sizes = 0, DEFAULT_EXAMPLE_SIZES
    try:
        if recipe is not None:
            loaded = Recipe.load(recipe)
            checkpoint, out, name = loaded.checkpoint, loaded.output, loaded.name
            atol, seed, sizes = loaded.atol, loaded.example_seed, loaded.example_sizes
        if checkpoint is None or out is None:
            msg = "give --recipe, or both --checkpoint and --out"
            raise click.UsageError(msg)
        model, spec = load_checkpoint(checkpoint, name or out.stem)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    try:
        report = export_onnx(model, spec, out, default_example(spec, seed, sizes), atol=atol)
    except ParityError as err:
        console.print(err.report.table(), markup=False, soft_wrap=True)
        raise click.ClickException(str(err).splitlines()[0]) from err
    except UnsupportedOperationError as err:
        raise click.ClickException(str(err)) from err
    console.print(report.table(), markup=False, soft_wrap=True)
    console.print(f"wrote {out} (max |torch - onnx| = {report.max_abs_diff:.2g})")
    if triton_repo is not None:
        from e2e_gnn.triton.cli import print_repository
        from e2e_gnn.triton.repository import write_repository

        print_repository(write_repository(out, triton_repo))


GRAPH_FILES = (".npz", ".root", ".parquet")
FRAME_FILES = (".root", ".parquet")
SCORE_FILES = (".npz", ".csv", ".root", ".parquet")


def _by_name(path: Path, what: str, names: list[str], wanted: list[str] | None) -> list[int]:
    """Positions of the model's ``wanted`` columns among a file's ``names`` (its own order
    when the model names none); refuses a file lacking any."""
    if wanted is None:
        return list(range(len(names)))
    missing = [name for name in wanted if name not in names]
    if missing:
        msg = f"{str(path)!r} lacks {what} {missing} the model needs (it has {names})"
        raise click.ClickException(msg)
    return [names.index(name) for name in wanted]


def _row_columns(columns: dict[str, Any], rows: int) -> dict[str, np.ndarray]:
    """The columns of an input file with one number per graph or frame (event, index,
    label, ...): written next to the scores, so that they can be joined back."""
    import awkward as ak

    flat = {
        name: ak.to_numpy(c)
        for name, c in columns.items()
        if c.ndim == 1 and len(c) == rows and name not in ("score", "scores")
    }
    return {name: values for name, values in flat.items() if values.dtype.kind in "biuf"}


def _load_graphs(
    path: Path, feature_names: tuple[str, ...] | None
) -> tuple[GraphBatch, dict[str, np.ndarray]]:
    """A graph file: GraphBatch.save's .npz, or .root/.parquet written by e2e_gnn.io (whose
    node features are named: they are put in the model's order, or refused if missing);
    with its per-graph columns."""
    if path.suffix == ".npz":
        batch = GraphBatch.load(path)
        return batch, {} if batch.y is None else {"label": batch.y}
    from e2e_gnn.io import read_graphs

    x, edge_index, batch_index, num_graphs, names, rest = read_graphs(path)
    wanted = None if feature_names is None else list(feature_names)
    x = x[:, _by_name(path, "node features", names, wanted)]
    batch = GraphBatch(np.ascontiguousarray(x), edge_index, batch_index, num_graphs)
    return batch, _row_columns(rest, num_graphs)


def _load_frames(
    path: Path, channels: list[str] | None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Frames [B, C, H, W] of an `e2e-gnn frames` file, channels in the model's order; with
    its per-frame columns."""
    from e2e_gnn.io import read_frames

    frames, names, rest = read_frames(path)
    frames = np.ascontiguousarray(frames[:, _by_name(path, "channels", names, channels)])
    return frames, _row_columns(rest, len(frames))


def _write_scores(out: Path, scores: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        np.savez(out, scores=scores, **columns)
    elif out.suffix == ".csv":
        table = np.column_stack([scores, *columns.values()])
        classes = scores.shape[1]
        names = ["scores"] if classes == 1 else [f"scores_{k}" for k in range(classes)]
        header = ",".join([*names, *columns])
        np.savetxt(out, table, delimiter=",", header=header, comments="", fmt="%.9g")
    else:
        from e2e_gnn.io import write_scores

        write_scores(out, scores, **columns)


@main.command()
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--graphs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Graph file (graph models): .npz (GraphBatch.save) or .root/.parquet "
    "(e2e_gnn.io.write_graphs, `e2e-gnn train`'s validation_graphs.root).",
)
@click.option(
    "--frames",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Frames file (frame models, e.g. `e2e-gnn train --model cnn`): .root/.parquet "
    "written by `e2e-gnn frames`.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Scores file: .npz, .csv, .root or .parquet.",
)
@click.option("--backend", type=click.Choice(sorted(BACKENDS)), default="native", show_default=True)
@click.option("--threads", default=1, show_default=True)
@click.option(
    "--per-call",
    "--graphs-per-call",
    "per_call",
    default=1024,
    show_default=True,
    help="Graphs or frames per inference call.",
)
def infer(
    model: Path,
    graphs: Path | None,
    frames: Path | None,
    out: Path,
    backend: str,
    threads: int,
    per_call: int,
) -> None:
    """Score every graph of a graph file, or every frame of a frames file, with an exported
    model."""
    if (graphs is None) == (frames is None):
        msg = "give exactly one of --graphs (graph models) and --frames (frame models)"
        raise click.UsageError(msg)
    inputs = graphs if graphs is not None else frames
    assert inputs is not None
    for path, formats in (
        (inputs, GRAPH_FILES if frames is None else FRAME_FILES),
        (out, SCORE_FILES),
    ):
        if path.suffix not in formats:
            msg = f"unsupported file type {path.suffix!r} for {str(path)!r}; use one of {formats}"
            raise click.BadParameter(msg)
    with Tagger(model, backend=backend, threads=threads) as tagger:
        spec = tagger.spec
        if spec.is_graph_model != (graphs is not None):
            kind, option = (
                ("a graph", "--graphs") if spec.is_graph_model else ("a frame", "--frames")
            )
            msg = f"{str(model)!r} is {kind} model: give its inputs with {option}"
            raise click.UsageError(msg)
        batch: GraphBatch | np.ndarray
        if graphs is not None:
            batch, columns = _load_graphs(graphs, spec.graph.feature_names if spec.graph else None)
        else:
            assert frames is not None
            batch, columns = _load_frames(frames, (spec.frame or {}).get("channels"))
        start = time.perf_counter()
        scores = tagger.score(batch, per_call)
        elapsed = time.perf_counter() - start
    _write_scores(out, scores, columns)
    what = "graphs" if graphs is not None else "frames"
    console.print(f"scored {len(scores)} {what} with {backend} in {elapsed * 1e3:.1f} ms -> {out}")


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(name: str, args: tuple[str, ...]) -> None:
    """Run benchmarks/bench_NAME.py of this checkout (extra ARGS go to the script).

    Each benchmark measures e2e_gnn against the alternative in the same run and writes
    benchmarks/results/NAME.json.
    """
    import runpy
    import sys

    scripts = Path.cwd() / "benchmarks"
    script = scripts / f"bench_{name}.py"
    if not script.is_file():
        found = sorted(p.stem.removeprefix("bench_") for p in scripts.glob("bench_*.py"))
        msg = f"no benchmark {name!r} in {scripts} (run from an e2e_gnn checkout); have {found}"
        raise click.ClickException(msg)
    sys.argv = [str(script), *args]
    runpy.run_path(str(script), run_name="__main__")


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inspect(model: Path) -> None:
    """Print the metadata an exported model carries."""
    import onnx

    from e2e_gnn.spec import CHECKSUM_KEY, SPEC_KEY, VERSION_KEY, ModelSpec

    proto = onnx.load(str(model), load_external_data=False)
    metadata = {p.key: p.value for p in proto.metadata_props}
    spec = ModelSpec.from_metadata(metadata, source=str(model))
    console.print(
        f"[bold]{model}[/]  e2e_gnn {metadata.get(VERSION_KEY)}  opset "
        f"{max(o.version for o in proto.opset_import)}"
    )
    console.print(f"checksum {metadata.get(CHECKSUM_KEY)}")
    table = Table("tensor", "dtype", "shape", "meaning")
    for tensor in (*spec.inputs, *spec.outputs):
        table.add_row(tensor.name, tensor.dtype, str(list(tensor.shape)), tensor.meaning)
    console.print(table)
    console.print_json(json.dumps(json.loads(metadata[SPEC_KEY]), indent=2))


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
