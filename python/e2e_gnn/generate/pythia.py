"""Pythia8 event generation per task, read out as arrays.

``pythia8mc.Pythia.nextBatch(n)`` fills a whole batch of event records into awkward
arrays in C++; :class:`~.truth.Record` flattens them into NumPy columns. Measured on
this machine kind on the same events (hard QCD, pTHat > 200 GeV): ``nextBatch`` costs
8-10 % more than ``next()`` alone, while reading the same particles through the
per-particle Python API (``event.particles()``, ``Particle.px()``, ... at ~250 ns per
call) costs 35 % (with MPI) to 60 % (without) on top of Pythia.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .collection import Collection
from .tasks import TaskSpec
from .truth import (
    PdgLookup,
    Record,
    displaced_photons,
    final_particles,
    jet_truth_objects,
    photon_candidates,
)

__all__ = ["GeneratedEvents", "PythiaSource", "import_optional"]

COMMON_SETTINGS = (
    "Beams:eCM = 13600",
    "Next:numberCount = 0",
    "Print:quiet = on",
    "Random:setSeed = on",
)
MINBIAS_SETTINGS = ("SoftQCD:nonDiffractive = on",)
PYTHIA_SEED_MAX = 900_000_000
"""Pythia8 accepts seeds in [1, 900000000]."""


def import_optional(name: str) -> ModuleType:
    """Import an optional generator dependency, saying how to install it if missing."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        msg = (
            f"the generator needs {name!r}: install the generator extra with "
            "`pip install e2e-gnn[gen]` (pythia8mc==8.317.2, fastjet, lz4)"
        )
        raise ModuleNotFoundError(msg) from err


@dataclass(frozen=True)
class GeneratedEvents:
    """One chunk of generated events, truth level.

    Attributes:
        particles: visible final-state particles of the hard scatter per event
            (px, py, pz, e, pdg, charge, vx, vy, vz, pt, eta, phi; see
            ``final_particles``).
        pileup: visible final-state pile-up particles per event (same fields, vertex z
            already shifted to their pile-up vertex), or ``None`` without pile-up.
        jet_truth: per event, the objects that label jets (eta, phi, label; for the
            displaced-photon task the truth photons, with their vertex and lxy).
        photons: per event, the photon candidates or truth photons (pt, eta, phi,
            label, production vertex vx, vy, vz and lxy in cm).
        is_signal: bool per event, True for events of the signal process.
    """

    particles: Collection
    pileup: Collection | None
    jet_truth: Collection
    photons: Collection
    is_signal: np.ndarray


class PythiaSource:
    """The Pythia8 generators of one task, initialised once and reseeded per chunk.

    Args:
        task: the task to generate.
        mpi: multiparton interactions on (default; realistic underlying event) or off.
        pileup_mean: mean number of minimum-bias pile-up collisions per event
            (Poisson); 0 disables pile-up.
        beamspot_sigma_z_cm: longitudinal size of the luminous region; pile-up vertices
            sit at z ~ N(0, sqrt(2) * sigma) relative to the hard scatter.
    """

    def __init__(
        self,
        task: TaskSpec,
        *,
        mpi: bool = True,
        pileup_mean: float = 0.0,
        beamspot_sigma_z_cm: float = 3.5,
    ) -> None:
        self.task = task
        self.pileup_mean = float(pileup_mean)
        self.beamspot_sigma_z_cm = float(beamspot_sigma_z_cm)
        self._pythia = import_optional("pythia8mc")
        mpi_setting = f"PartonLevel:MPI = {'on' if mpi else 'off'}"
        self.signal = self._make((*task.signal, mpi_setting))
        self.background = (
            None if task.background is None else self._make((*task.background, mpi_setting))
        )
        self.minbias = self._make(MINBIAS_SETTINGS) if self.pileup_mean > 0 else None
        self._charges = PdgLookup(self._charge)

    def _make(self, settings: tuple[str, ...]) -> Any:
        pythia = self._pythia.Pythia("", False)
        for line in (*COMMON_SETTINGS, *settings):
            if not pythia.readString(line):
                msg = f"Pythia8 rejected the setting {line!r}"
                raise ValueError(msg)
        if not pythia.init():
            msg = f"Pythia8 failed to initialise with settings {settings!r}"
            raise RuntimeError(msg)
        return pythia

    def _charge(self, pdg: int) -> float:
        return float(self.signal.particleData.charge(pdg))

    @staticmethod
    def _batch(pythia: Any, n_events: int) -> Record:
        """Exactly ``n_events`` events (nextBatch skips the rare failed events)."""
        parts = []
        missing = n_events
        while missing > 0:
            record = Record.from_batch(pythia.nextBatch(missing))
            if record.n_events == 0:
                msg = f"Pythia8 failed to generate any of {missing} events (see its log)"
                raise RuntimeError(msg)
            parts.append(record)
            missing -= record.n_events
        if len(parts) == 1:
            return parts[0]
        starts = np.cumsum([0] + [r.n_events for r in parts])
        return Record.interleave(
            parts, [start + np.arange(r.n_events) for r, start in zip(parts, starts, strict=False)]
        )

    def generate(self, first_event: int, n_events: int, seed: int) -> GeneratedEvents:
        """Generate events ``first_event .. first_event + n_events - 1`` of a sample.

        The chunk depends only on ``seed`` and ``first_event`` (the generators are
        reseeded from both), so a sample is the same whatever the number of workers.
        Even event numbers are signal events, odd ones background events, for tasks
        that have a background process.
        """
        seeds = np.random.SeedSequence([seed, first_event]).generate_state(4)
        seeds = [int(s % PYTHIA_SEED_MAX) + 1 for s in seeds]
        event_numbers = np.arange(first_event, first_event + n_events)
        if self.background is None:
            is_signal = np.ones(n_events, dtype=bool)
        else:
            is_signal = event_numbers % 2 == 0
        n_signal = int(is_signal.sum())
        self.signal.rndm.init(seeds[0])
        record = self._batch(self.signal, n_signal)
        if self.background is not None and n_signal < n_events:
            self.background.rndm.init(seeds[1])
            background = self._batch(self.background, n_events - n_signal)
            # put every event at its place in the sample
            positions = [np.flatnonzero(is_signal), np.flatnonzero(~is_signal)]
            record = Record.interleave([record, background], positions)
        pileup = None
        if self.minbias is not None:
            pileup = self._pileup(n_events, seeds[2], seeds[3])
        return self.events_from_record(record, is_signal, pileup)

    def events_from_record(
        self, record: Record, is_signal: np.ndarray, pileup: Collection | None = None
    ) -> GeneratedEvents:
        """Truth-level events from flattened Pythia event records."""
        task = self.task
        if task.long_lived is None:
            photons = photon_candidates(record)
        else:
            photons = displaced_photons(record, task.long_lived)
        if task.signal_jets == "photon":
            jet_truth = photons
        else:
            jet_truth = jet_truth_objects(record, task.signal_jets, is_signal)
        return GeneratedEvents(
            particles=final_particles(record, self._charges, task.long_lived),
            pileup=pileup,
            jet_truth=jet_truth,
            photons=photons,
            is_signal=np.asarray(is_signal, dtype=bool),
        )

    def _pileup(self, n_events: int, pythia_seed: int, numpy_seed: int) -> Collection:
        """Poisson(pileup_mean) minimum-bias collisions per event, merged per event."""
        rng = np.random.default_rng(numpy_seed)
        n_per_event = rng.poisson(self.pileup_mean, n_events)
        total = int(n_per_event.sum())
        if total == 0:
            empty = np.zeros(0)
            names = ("px", "py", "pz", "e", "pdg", "charge", "vx", "vy", "vz", "pt", "eta", "phi")
            return Collection(dict.fromkeys(names, empty), np.zeros(n_events, np.int64))
        self.minbias.rndm.init(pythia_seed)
        collisions = final_particles(self._batch(self.minbias, total), self._charges)
        # each collision gets its vertex z; collisions are consecutive per event
        z_offset = rng.normal(0.0, np.sqrt(2.0) * self.beamspot_sigma_z_cm, total)
        columns = dict(collisions.columns)
        columns["vz"] = columns["vz"] + np.repeat(z_offset, collisions.counts)
        owner = np.repeat(np.arange(n_events), n_per_event)
        per_event = np.bincount(owner, weights=collisions.counts, minlength=n_events)
        return Collection(columns, per_event.astype(np.int64))
