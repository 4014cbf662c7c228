"""The ``e2e-gnn generate`` command (added to the app in ``e2e_gnn/cli.py``)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click

from .detector import DetectorConfig
from .tasks import ALP_CTAU_MM, ALP_MASS_GEV, TASKS, displaced_photon_task
from .writer import COMPRESSIONS, generate

__all__ = ["generate_command"]


@click.command("generate")
@click.option(
    "--task",
    type=click.Choice(sorted(TASKS)),
    required=True,
    help="Labelled task: quark_gluon, top (vs QCD), tau (hadronic, vs QCD), photon (vs pi0), "
    "displaced_photon (H -> a a, a -> gamma gamma, vs prompt photons).",
)
@click.option("--events", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="ROOT file to write (generator schema v1).",
)
@click.option(
    "--pileup",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="Mean number of pile-up collisions per event (Poisson).",
)
@click.option(
    "--compression",
    type=click.Choice(COMPRESSIONS),
    default="lz4",
    show_default=True,
    help="ROOT basket compression.",
)
@click.option(
    "--mpi/--no-mpi",
    default=True,
    show_default=True,
    help="Multiparton interactions in the hard scatter (off is ~5x faster).",
)
@click.option(
    "--alp-mass",
    type=float,
    help=f"displaced_photon: mass of the long-lived scalar a (GeV)  [default: {ALP_MASS_GEV}]",
)
@click.option(
    "--alp-ctau",
    type=float,
    help=f"displaced_photon: proper decay length c tau of a (mm)  [default: {ALP_CTAU_MM}]",
)
def generate_command(
    task: str,
    events: int,
    seed: int,
    workers: int,
    out: Path,
    pileup: float,
    compression: str,
    mpi: bool,
    alp_mass: float | None,
    alp_ctau: float | None,
) -> None:
    """Generate Pythia8 events with a parametric detector response into a ROOT file."""
    config = dataclasses.replace(DetectorConfig(), pileup_mean=pileup)
    spec = TASKS[task]
    if alp_mass is not None or alp_ctau is not None:
        if task != "displaced_photon":
            msg = f"--alp-mass and --alp-ctau apply to --task displaced_photon, not {task!r}"
            raise click.UsageError(msg)
        mass = ALP_MASS_GEV if alp_mass is None else alp_mass
        try:
            spec = displaced_photon_task(mass, ALP_CTAU_MM if alp_ctau is None else alp_ctau)
        except ValueError as err:
            raise click.BadParameter(str(err)) from None
    start = time.perf_counter()
    path = generate(
        spec, events, seed, out, workers=workers, config=config, mpi=mpi, compression=compression
    )
    elapsed = time.perf_counter() - start
    click.echo(f"wrote {events} {task} events to {path} in {elapsed:.1f} s")
