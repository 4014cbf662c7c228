"""Generate a labelled sample and write it as a ROOT file (e2e_gnn generator schema v1).

One TTree ``Events``, one entry per event, NanoAOD-style flat branches: ``event``,
``task`` and the jagged collections ``Hit``, ``Track``, ``PixelHit``, ``Jet``,
``SmallJet`` (anti-kT R=0.2 truth jets) and ``Photon`` (counter ``n<Coll>`` plus members
``<Coll>_<field>``).

Events are made in chunks of :data:`CHUNK_SIZE`; each chunk is seeded from the sample
seed and its first event number only, so a sample is identical whatever the number of
worker processes. Workers are separate processes (``spawn``), each with its own Pythia
instances initialised once.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .collection import Collection
from .detector import DetectorConfig, DetectorResponse, simulate
from .jets import SMALL_JET_PT_MIN, SMALL_JET_R, cluster_jets, match_jets, matched_values
from .pythia import GeneratedEvents, PythiaSource, import_optional
from .tasks import TaskSpec, get_task

__all__ = [
    "CHUNK_SIZE",
    "COMPRESSIONS",
    "SCHEMA_VERSION",
    "append_events",
    "assemble",
    "compression_codec",
    "concatenate_chunks",
    "generate",
    "make_chunk",
    "to_branches",
]

SCHEMA_VERSION = "e2e_gnn generator schema v1"
CHUNK_SIZE = 50
"""Events generated per work item (fixed, so that the output does not depend on workers)."""
WRITE_EVERY = 1000
"""Events buffered before a write, so that ROOT baskets are not tiny."""
PROGRESS_EVERY = 5.0
"""Seconds between progress lines when standard error is not a terminal (logs, CI)."""
COMPRESSIONS = ("lz4", "zlib", "none")
"""LZ4 writes ~3x faster than ZLIB level 1 for ~20 % larger files (measured on our events)."""


def compression_codec(name: str) -> uproot.compression.Compression | None:
    """The uproot codec called ``name`` (one of :data:`COMPRESSIONS`)."""
    if name == "lz4":
        for module in ("lz4", "xxhash"):
            import_optional(module)
        return uproot.LZ4(1)
    if name == "zlib":
        return uproot.ZLIB(1)
    if name == "none":
        return None
    msg = f"unknown compression {name!r}; expected one of {COMPRESSIONS}"
    raise ValueError(msg)


def append_events(file: uproot.WritableDirectory, branches: dict[str, object]) -> None:
    """Write branches to the ``Events`` TTree of ``file``, creating it on first use."""
    if "Events" in file:
        file["Events"].extend(branches)
    else:
        # mktree: a TTree (assigning awkward data directly makes an RNTuple)
        file.mktree("Events", branches, title=SCHEMA_VERSION)


Chunk = dict[str, "np.ndarray | Collection"]
"""The branches of one chunk: ``event``, ``task`` and one Collection per collection."""


def _float32(coll: Collection, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {name: coll[name].astype(np.float32) for name in names}


def assemble(
    task_id: int,
    first_event: int,
    events: GeneratedEvents,
    response: DetectorResponse,
) -> Chunk:
    """Branches of one chunk in the generator schema (flat, see :func:`to_branches`)."""
    n_events = len(events.is_signal)
    jets = cluster_jets(events.particles)
    jet_fields = _float32(jets, ("pt", "eta", "phi", "mass"))
    truth = events.jet_truth
    match = match_jets(jets, truth)
    jet_fields["label"] = matched_values(match, truth["label"], -1).astype(np.int32)
    if "lxy" in truth.columns:
        # the L_xy of the matched truth photon (displaced-photon task), -1 unmatched
        jet_fields["lxy"] = matched_values(match, truth["lxy"], -1.0).astype(np.float32)
    small_jets = cluster_jets(events.particles, SMALL_JET_R, SMALL_JET_PT_MIN)
    photon_fields = _float32(events.photons, ("pt", "eta", "phi"))
    photon_fields["label"] = events.photons["label"].astype(np.int32)
    photon_fields.update(_float32(events.photons, ("vx", "vy", "vz", "lxy")))
    return {
        "event": np.arange(first_event, first_event + n_events, dtype=np.int64),
        "task": np.full(n_events, task_id, dtype=np.int32),
        "Hit": response.hits,
        "Track": response.tracks,
        "PixelHit": response.pixel_hits,
        "Jet": Collection(jet_fields, jets.counts),
        "SmallJet": Collection(
            _float32(small_jets, ("pt", "eta", "phi", "mass")), small_jets.counts
        ),
        "Photon": Collection(photon_fields, events.photons.counts),
    }


def concatenate_chunks(parts: list[Chunk]) -> Chunk:
    """Concatenate the branches of consecutive chunks."""
    out: Chunk = {}
    for name, first in parts[0].items():
        values = [part[name] for part in parts]
        out[name] = (
            np.concatenate(values)
            if isinstance(first, np.ndarray)
            else Collection.concatenate(values)
        )
    return out


def to_branches(chunk: Chunk) -> dict[str, np.ndarray | ak.Array]:
    """What uproot writes: NumPy arrays and jagged awkward records (``n<Coll>`` counters
    and ``<Coll>_<field>`` members)."""
    return {
        name: value if isinstance(value, np.ndarray) else value.to_awkward()
        for name, value in chunk.items()
    }


def make_chunk(
    source: PythiaSource,
    first_event: int,
    n_events: int,
    seed: int,
    config: DetectorConfig,
) -> Chunk:
    """Generate, simulate and assemble events ``first_event .. first_event + n_events - 1``."""
    events = source.generate(first_event, n_events, seed)
    rng = np.random.default_rng([seed, first_event, 1])
    response = simulate(events.particles, config, rng, pileup=events.pileup)
    return assemble(source.task.task_id, first_event, events, response)


# The worker processes keep one PythiaSource each (Pythia initialisation takes ~0.5 s).
_WORKER: dict[str, object] = {}


def _init_worker(task: TaskSpec, mpi: bool, config: DetectorConfig) -> None:
    _WORKER["source"] = PythiaSource(
        task,
        mpi=mpi,
        pileup_mean=config.pileup_mean,
        beamspot_sigma_z_cm=config.beamspot_sigma_z,
    )
    _WORKER["config"] = config


def _run_chunk(item: tuple[int, int, int]) -> Chunk:
    first_event, n_events, seed = item
    source = _WORKER["source"]
    config = _WORKER["config"]
    assert isinstance(source, PythiaSource)
    assert isinstance(config, DetectorConfig)
    return make_chunk(source, first_event, n_events, seed, config)


@contextmanager
def _progress(name: str, total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """``advance(n)`` after each n events: a progress bar on standard error when it is a
    terminal, else a line every :data:`PROGRESS_EVERY` seconds and one when done."""
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    if not enabled:
        yield lambda n: None
    elif console.file.isatty():
        columns = [
            TextColumn(f"generating {name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("events", total=total)
            yield lambda n: bar.advance(task, n)
    else:
        start = last = time.perf_counter()
        done = 0

        def advance(n: int) -> None:
            nonlocal done, last
            done += n
            now = time.perf_counter()
            if now - last < PROGRESS_EVERY and done < total:
                return
            last = now
            left = (total - done) * (now - start) / done
            console.print(
                f"generating {name}: {done}/{total} events ({100 * done / total:.0f} %), "
                f"{now - start:.1f} s" + (f", ~{left:.0f} s left" if done < total else ""),
                markup=False,
            )

        yield advance


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        msg = f"{name} must be an integer >= {minimum}, got {value!r}"
        raise ValueError(msg)
    return int(value)


def _chunks(
    task: TaskSpec,
    n_events: int,
    seed: int,
    workers: int,
    mpi: bool,
    config: DetectorConfig,
    chunk_size: int,
) -> Iterator[Chunk]:
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


def generate(
    task: str | TaskSpec,
    n_events: int,
    seed: int,
    out_path: str | os.PathLike[str],
    workers: int = 2,
    config: DetectorConfig | None = None,
    *,
    mpi: bool = True,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
    compression: str = "lz4",
) -> Path:
    """Generate ``n_events`` events of ``task`` and write them to the ROOT file ``out_path``.

    Args:
        task: one of ``quark_gluon``, ``top``, ``tau``, ``photon``,
            ``displaced_photon`` (see :data:`~e2e_gnn.generate.tasks.TASKS`), or a
            :class:`~e2e_gnn.generate.tasks.TaskSpec` (e.g.
            :func:`~e2e_gnn.generate.tasks.displaced_photon_task` with another mass
            or lifetime).
        n_events: number of events (> 0).
        seed: sample seed (>= 0); the same seed gives the same file.
        out_path: the ROOT file to (re)create.
        workers: worker processes (>= 1); 1 generates in this process.
        config: the detector parameters (default :class:`DetectorConfig`).
        mpi: multiparton interactions in the hard-scatter events.
        progress: report progress on standard error: a bar on a terminal, else a line
            every :data:`PROGRESS_EVERY` seconds and one at the end.
        chunk_size: events per work item; the sample depends on it (and on the seed),
            not on the number of workers.
        compression: ROOT basket compression, one of :data:`COMPRESSIONS` (reading
            LZ4 needs the ``lz4`` and ``xxhash`` packages).

    Returns:
        The path written.

    With ``workers > 1`` the workers are started with ``spawn``, which imports the
    caller's main module again: call this under ``if __name__ == "__main__":`` in a
    script (the ``e2e-gnn`` command does).
    """
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    n_events = _check_int("n_events", n_events, 1)
    seed = _check_int("seed", seed, 0)
    workers = _check_int("workers", workers, 1)
    chunk_size = _check_int("chunk_size", chunk_size, 1)
    codec = compression_codec(compression)
    config = DetectorConfig() if config is None else config
    if not isinstance(config, DetectorConfig):
        msg = f"config must be a DetectorConfig, got {config!r}"
        raise TypeError(msg)
    out = Path(out_path)
    if not out.parent.is_dir():
        msg = f"out_path {str(out)!r}: directory {str(out.parent)!r} does not exist"
        raise FileNotFoundError(msg)
    buffered: list[Chunk] = []
    n_buffered = n_done = 0
    with (
        uproot.recreate(out, compression=codec) as file,
        _progress(spec.name, n_events, progress) as advance,
    ):
        for chunk in _chunks(spec, n_events, seed, workers, mpi, config, chunk_size):
            buffered.append(chunk)
            n_chunk = len(chunk["event"])
            n_buffered += n_chunk
            n_done += n_chunk
            advance(n_chunk)
            if n_buffered >= WRITE_EVERY or n_done == n_events:
                append_events(file, to_branches(concatenate_chunks(buffered)))
                buffered, n_buffered = [], 0
    return out
