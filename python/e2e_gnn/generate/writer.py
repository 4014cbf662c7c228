"""Generate a labelled sample and write it as a ROOT file (e2e_gnn generator schema v1).

One TTree ``Events``, one entry per event, NanoAOD-style flat branches: ``event``,
``task`` and the jagged collections ``Hit``, ``Track``, ``PixelHit``, ``Jet`` and
``Photon`` (counter ``n<Coll>`` plus members ``<Coll>_<field>``).

Events are made in chunks of :data:`CHUNK_SIZE`; each chunk is seeded from the sample
seed and its first event number only, so a sample is identical whatever the number of
worker processes. Workers are separate processes (``spawn``), each with its own Pythia
instances initialised once.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .detector import DetectorConfig, DetectorResponse, simulate
from .jets import cluster_jets, label_jets
from .pythia import GeneratedEvents, PythiaSource
from .tasks import get_task

__all__ = ["CHUNK_SIZE", "SCHEMA_VERSION", "generate", "make_chunk"]

SCHEMA_VERSION = "e2e_gnn generator schema v1"
CHUNK_SIZE = 50
"""Events generated per work item (fixed, so that the output does not depend on workers)."""
WRITE_EVERY = 1000
"""Events buffered before a write, so that ROOT baskets are not tiny."""


def _jagged(flat: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
    return ak.zip({name: ak.unflatten(values, counts) for name, values in flat.items()})


def _float32(records: ak.Array, names: tuple[str, ...]) -> dict[str, ak.Array]:
    return {name: ak.values_astype(records[name], np.float32) for name in names}


def assemble(
    task_id: int,
    first_event: int,
    events: GeneratedEvents,
    response: DetectorResponse,
) -> dict[str, np.ndarray | ak.Array]:
    """Branches of one chunk in the generator schema."""
    n_events = len(events.is_signal)
    jets = cluster_jets(events.particles)
    jet_fields = _float32(jets, ("pt", "eta", "phi", "mass"))
    jet_fields["label"] = label_jets(jets, events.jet_truth)
    photon_fields = _float32(events.photons, ("pt", "eta", "phi"))
    photon_fields["label"] = ak.values_astype(events.photons.label, np.int32)
    return {
        "event": np.arange(first_event, first_event + n_events, dtype=np.int64),
        "task": np.full(n_events, task_id, dtype=np.int32),
        "Hit": _jagged(response.hits, response.counts["Hit"]),
        "Track": _jagged(response.tracks, response.counts["Track"]),
        "PixelHit": _jagged(response.pixel_hits, response.counts["PixelHit"]),
        "Jet": ak.zip(jet_fields),
        "Photon": ak.zip(photon_fields),
    }


def make_chunk(
    source: PythiaSource,
    first_event: int,
    n_events: int,
    seed: int,
    config: DetectorConfig,
) -> dict[str, np.ndarray | ak.Array]:
    """Generate, simulate and assemble events ``first_event .. first_event + n_events - 1``."""
    events = source.generate(first_event, n_events, seed)
    rng = np.random.default_rng([seed, first_event, 1])
    response = simulate(events.particles, config, rng, pileup=events.pileup)
    return assemble(source.task.task_id, first_event, events, response)


# The worker processes keep one PythiaSource each (Pythia initialisation takes ~0.5 s).
_WORKER: dict[str, object] = {}


def _init_worker(task: str, mpi: bool, config: DetectorConfig) -> None:
    _WORKER["source"] = PythiaSource(
        get_task(task),
        mpi=mpi,
        pileup_mean=config.pileup_mean,
        beamspot_sigma_z_cm=config.beamspot_sigma_z,
    )
    _WORKER["config"] = config


def _run_chunk(item: tuple[int, int, int]) -> dict[str, np.ndarray | ak.Array]:
    first_event, n_events, seed = item
    source = _WORKER["source"]
    config = _WORKER["config"]
    assert isinstance(source, PythiaSource)
    assert isinstance(config, DetectorConfig)
    return make_chunk(source, first_event, n_events, seed, config)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        msg = f"{name} must be an integer >= {minimum}, got {value!r}"
        raise ValueError(msg)
    return int(value)


def _chunks(
    task: str,
    n_events: int,
    seed: int,
    workers: int,
    mpi: bool,
    config: DetectorConfig,
    chunk_size: int,
) -> Iterator[dict[str, np.ndarray | ak.Array]]:
    items = [
        (first, min(chunk_size, n_events - first), seed) for first in range(0, n_events, chunk_size)
    ]
    if workers == 1:
        _init_worker(task, mpi, config)
        try:
            yield from map(_run_chunk, items)
        finally:
            _WORKER.clear()
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(items)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(task, mpi, config),
    ) as pool:
        yield from pool.map(_run_chunk, items)


def _concatenate(parts: list[dict[str, np.ndarray | ak.Array]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, first in parts[0].items():
        values = [part[name] for part in parts]
        out[name] = (
            np.concatenate(values) if isinstance(first, np.ndarray) else ak.concatenate(values)
        )
    return out


def generate(
    task: str,
    n_events: int,
    seed: int,
    out_path: str | os.PathLike[str],
    workers: int = 2,
    config: DetectorConfig | None = None,
    *,
    mpi: bool = True,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
) -> Path:
    """Generate ``n_events`` events of ``task`` and write them to the ROOT file ``out_path``.

    Args:
        task: one of ``quark_gluon``, ``top``, ``tau``, ``photon`` (see
            :data:`~e2e_gnn.generate.tasks.TASKS`).
        n_events: number of events (> 0).
        seed: sample seed (>= 0); the same seed gives the same file.
        out_path: the ROOT file to (re)create.
        workers: worker processes (>= 1); 1 generates in this process.
        config: the detector parameters (default :class:`DetectorConfig`).
        mpi: multiparton interactions in the hard-scatter events.
        progress: show a rich progress bar.
        chunk_size: events per work item; the sample depends on it (and on the seed),
            not on the number of workers.

    Returns:
        The path written.
    """
    spec = get_task(task)
    n_events = _check_int("n_events", n_events, 1)
    seed = _check_int("seed", seed, 0)
    workers = _check_int("workers", workers, 1)
    chunk_size = _check_int("chunk_size", chunk_size, 1)
    config = DetectorConfig() if config is None else config
    if not isinstance(config, DetectorConfig):
        msg = f"config must be a DetectorConfig, got {config!r}"
        raise TypeError(msg)
    out = Path(out_path)
    if not out.parent.is_dir():
        msg = f"out_path {str(out)!r}: directory {str(out.parent)!r} does not exist"
        raise FileNotFoundError(msg)
    columns = [
        TextColumn(f"generating {spec.name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ]
    buffered: list[dict[str, np.ndarray | ak.Array]] = []
    n_buffered = n_done = 0
    with (
        uproot.recreate(out) as file,
        Progress(*columns, disable=not progress, transient=True) as bar,
    ):
        bar_task = bar.add_task("events", total=n_events)
        for chunk in _chunks(spec.name, n_events, seed, workers, mpi, config, chunk_size):
            buffered.append(chunk)
            n_chunk = len(chunk["event"])
            n_buffered += n_chunk
            n_done += n_chunk
            bar.advance(bar_task, n_chunk)
            if n_buffered >= WRITE_EVERY or n_done == n_events:
                branches = _concatenate(buffered)
                if "Events" in file:
                    file["Events"].extend(branches)
                else:
                    # mktree: a TTree (assigning awkward data directly makes an RNTuple)
                    file.mktree("Events", branches, title=SCHEMA_VERSION)
                buffered, n_buffered = [], 0
    return out
