"""The ``e2e-gnn frames`` command (added to the app in ``e2e_gnn/cli.py``)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from e2e_gnn.frames.run import PRODUCERS, make_frames
from e2e_gnn.io import InputFileError

__all__ = ["frames_command"]


@click.command("frames")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(sorted(PRODUCERS)),
    default="jet",
    show_default=True,
    help="jet (125x125 E2E frames), eg (32x32 ECAL crops), layered (15x15xL calorimeter "
    "images), pointcloud (cells around tracks), objects (NanoAOD event graphs), "
    "constituents (calorimeter-tower graphs of R=0.2 jets matched to truth jets).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file: .root (TTree Events) or .parquet.",
)
@click.option(
    "--schema",
    help="Input schema: e2e_gnn, nanoaod or a .toml file (default: e2e_gnn; nanoaod for "
    "--kind objects).",
)
@click.option(
    "--step-size",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Events per chunk.",
)
@click.option("--entry-stop", type=click.IntRange(min=1), help="Read at most N events per file.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also render a PNG grid: a few frames per label, one column per channel.",
)
@click.option(
    "--edge",
    type=click.Choice(["pad", "drop"]),
    default="pad",
    show_default=True,
    help="jet: frames crossing the barrel edge are zero-padded or dropped.",
)
@click.option(
    "-k",
    "--knn",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="objects: neighbours per node.",
)
def frames_command(
    inputs: tuple[Path, ...],
    kind: str,
    out: Path,
    schema: str | None,
    step_size: int,
    entry_stop: int | None,
    plot: Path | None,
    edge: str,
    knn: int,
) -> None:
    """Turn events of ROOT files INPUTS into frames, point clouds or object graphs."""
    options: dict[str, object] = {}
    if kind == "jet":
        options["edge"] = edge
    if kind == "objects":
        options["k"] = knn
    start = time.perf_counter()
    try:
        run = make_frames(
            inputs,
            out,
            kind=kind,
            schema=schema,
            step_size=step_size,
            entry_stop=entry_stop,
            plot=plot,
            options=options,
        )
    except (InputFileError, ValueError, KeyError) as err:
        raise click.ClickException(str(err)) from err
    elapsed = time.perf_counter() - start
    dropped = ", ".join(f"{k}: {v}" for k, v in run.dropped.items() if v) or "none"
    click.echo(
        f"wrote {run.produced} {kind} outputs from {run.events} events to {run.output} in "
        f"{elapsed:.1f} s (dropped: {dropped})"
    )
    if run.plot is not None:
        click.echo(f"plot: {run.plot}")
