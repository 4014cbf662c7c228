"""Generator truth from Pythia8 event records held as awkward arrays.

The input is what ``pythia8mc.Pythia.nextBatch`` returns: ``events.prt`` is a jagged
array of particle records (``id``, ``status``, ``daughter1``, ``p`` as a px/py/pz/e
record, ``vProd`` as an optional x/y/z/t record in mm, ...), one list per event.
The record is flattened once into NumPy columns (:class:`Record`); every selection
then runs on those columns, vectorised over the whole batch, and the results are
:class:`~.collection.Collection` objects (flat columns plus counts per event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import awkward as ak
import numpy as np

from .collection import Collection

__all__ = [
    "BARREL_ETA_MAX",
    "DECAY_HALF_LENGTH_CM",
    "DECAY_RADIUS_CM",
    "PHOTON_PT_MIN",
    "PdgLookup",
    "Record",
    "displaced_photons",
    "final_particles",
    "jet_truth_objects",
    "kinematics",
    "photon_candidates",
]

BARREL_ETA_MAX = 1.479
"""|eta| acceptance of the barrel calorimeter; photon candidates are kept inside it."""

PHOTON_PT_MIN = 20.0
"""GeV; the pT above which prompt photons and neutral pions become photon candidates."""

DECAY_RADIUS_CM = 129.0
DECAY_HALF_LENGTH_CM = 300.0
"""The volume (transverse radius and half length, cm: inside the ECAL barrel's front face)
in which particle decays count. Pythia decays particles in vacuum, also long-lived hadrons
(K0S, Lambda, ...) of hard jets, metres away; a real one would have reached the
calorimeter and showered there, so a particle that decays outside this volume is kept
in place of its decay products."""

_NEUTRINOS = (12, 14, 16)


def kinematics(
    px: np.ndarray, py: np.ndarray, pz: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pT, pseudorapidity and azimuth: the generator's one definition of them."""
    pt = np.hypot(px, py)
    return pt, np.arcsinh(pz / np.maximum(pt, 1e-12)), np.arctan2(py, px)


class PdgLookup:
    """A per-PDG-id function evaluated on arrays of ids, each id computed once.

    Ids below ``span`` in magnitude are looked up in a dense table (a gather, no sort);
    rarer larger ids go through a dictionary.
    """

    def __init__(self, function: Callable[[int], float], span: int = 10_000) -> None:
        self._function = function
        self._span = span
        self._table = np.full(2 * span + 1, np.nan)
        self._large: dict[int, float] = {}

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        index = np.asarray(ids, dtype=np.int64) + self._span
        dense = (index >= 0) & (index <= 2 * self._span)
        if not dense.all():
            values = np.empty(index.size)
            values[dense] = self(index[dense] - self._span)
            large = ids[~dense]
            values[~dense] = [self._scalar(int(pdg)) for pdg in large]
            return values
        values = self._table[index]
        missing = np.isnan(values)
        if missing.any():
            for position in np.unique(index[missing]):
                self._table[position] = self._function(int(position) - self._span)
            values = self._table[index]
        return values

    def _scalar(self, pdg: int) -> float:
        if pdg not in self._large:
            self._large[pdg] = float(self._function(pdg))
        return self._large[pdg]


@dataclass(frozen=True)
class Record:
    """Pythia event records of a batch as flat NumPy columns, grouped by event.

    ``event`` is the event index of each entry, ``daughter1`` and ``mother1`` the global
    indices of its first daughter and first mother (-1 when it has none). Production
    vertices (mm) are stored as Pythia does, only where set: ``vertex_index`` points
    into ``vertices`` [V, 3] (-1 for particles made at the origin); :meth:`vertex` reads
    them.
    """

    n_events: int
    event: np.ndarray
    id: np.ndarray
    status: np.ndarray
    daughter1: np.ndarray
    mother1: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    vertex_index: np.ndarray
    vertices: np.ndarray

    @classmethod
    def from_batch(cls, batch: ak.Array) -> Record:
        """Flatten what ``Pythia.nextBatch`` returns, reading its layout directly."""
        prt = ak.to_layout(batch)["prt"]
        if not isinstance(prt, ak.contents.ListOffsetArray):
            prt = prt.to_ListOffsetArray64(True)
        offsets = np.asarray(prt.offsets.data, dtype=np.int64)
        entries = slice(int(offsets[0]), int(offsets[-1]))
        content = prt.content

        def column(*path: str) -> np.ndarray:
            node = content
            for name in path:
                node = node.content(name)
            return np.asarray(node.data)[entries]

        counts = np.diff(offsets)
        event = np.repeat(np.arange(counts.size), counts)
        start = offsets[:-1] - offsets[0]
        daughter1 = column("daughter1").astype(np.int64)
        mother1 = column("mother1").astype(np.int64)
        vertex = content.content("vProd")
        vertices = np.stack(
            [np.asarray(vertex.content.content(name).data) for name in ("px", "py", "pz")], axis=1
        )
        return cls(
            n_events=int(counts.size),
            event=event,
            id=column("id"),
            status=column("status"),
            daughter1=np.where(daughter1 > 0, daughter1 + start[event], -1),
            mother1=np.where(mother1 > 0, mother1 + start[event], -1),
            px=column("p", "px"),
            py=column("p", "py"),
            pz=column("p", "pz"),
            e=column("p", "e"),
            vertex_index=np.asarray(vertex.index.data, dtype=np.int64)[entries],
            vertices=vertices,
        )

    @classmethod
    def interleave(cls, records: list[Record], positions: list[np.ndarray]) -> Record:
        """Merge batches into one record; event ``i`` of ``records[k]`` becomes event
        ``positions[k][i]``."""
        n_events = sum(r.n_events for r in records)
        offset = np.cumsum([0] + [r.event.size for r in records])[:-1]
        event = np.concatenate([pos[r.event] for r, pos in zip(records, positions, strict=True)])
        order = np.argsort(event, kind="stable")
        # global daughter and mother indices: shift into the concatenation, then follow
        # the reorder
        where = np.empty(order.size, dtype=np.int64)
        where[order] = np.arange(order.size)

        def relinked(name: str) -> np.ndarray:
            link = np.concatenate(
                [
                    np.where(getattr(r, name) >= 0, getattr(r, name) + o, -1)
                    for r, o in zip(records, offset, strict=True)
                ]
            )
            return np.where(link >= 0, where[np.maximum(link, 0)], -1)[order]

        vertex_offset = np.cumsum([0] + [len(r.vertices) for r in records])[:-1]
        vertex_index = np.concatenate(
            [
                np.where(r.vertex_index >= 0, r.vertex_index + o, -1)
                for r, o in zip(records, vertex_offset, strict=True)
            ]
        )

        def merged(name: str) -> np.ndarray:
            return np.concatenate([getattr(r, name) for r in records])[order]

        return cls(
            n_events=n_events,
            event=event[order],
            id=merged("id"),
            status=merged("status"),
            daughter1=relinked("daughter1"),
            mother1=relinked("mother1"),
            px=merged("px"),
            py=merged("py"),
            pz=merged("pz"),
            e=merged("e"),
            vertex_index=vertex_index[order],
            vertices=np.concatenate([r.vertices for r in records]),
        )

    def vertex(self, index: np.ndarray) -> np.ndarray:
        """[len(index), 3] production vertices (mm) of the entries ``index``."""
        return self.vertex_rows(index).T

    def vertex_rows(self, index: np.ndarray) -> np.ndarray:
        """[3, len(index)] production vertices (mm) of the entries ``index``: x, y and z
        each a contiguous row (0 for particles made at the origin)."""
        padded = np.zeros((3, len(self.vertices) + 1))
        padded[:, 1:] = self.vertices.T
        where = self.vertex_index[index] + 1
        out = np.empty((3, where.size))
        for axis in range(3):
            np.take(padded[axis], where, out=out[axis])
        return out

    def kinematics(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """pT, eta, phi of the entries ``index``."""
        return kinematics(self.px[index], self.py[index], self.pz[index])

    def collection(self, index: np.ndarray, columns: dict[str, np.ndarray]) -> Collection:
        """A collection of ``columns`` (one value per entry of ``index``, increasing)."""
        return Collection.from_event_index(self.event[index], columns, self.n_events)


def _decayed_inside(record: Record, index: np.ndarray, long_lived: int | None) -> np.ndarray:
    """``index`` with every particle made outside the decay volume (see
    :data:`DECAY_RADIUS_CM`) replaced by its ancestor that was made inside, once per
    ancestor, in record order. Decay products of ``long_lived`` stay: that particle
    does not interact, its decay point is the physics."""
    index = np.asarray(index, dtype=np.int64)
    vertices = record.vertices  # mm
    far = (np.hypot(vertices[:, 0], vertices[:, 1]) >= 10 * DECAY_RADIUS_CM) | (
        np.abs(vertices[:, 2]) >= 10 * DECAY_HALF_LENGTH_CM
    )
    # per vertex slot, slot -1 (made at the origin) first
    far = np.concatenate([[False], far])
    start = index
    while True:
        outside = far[record.vertex_index[index] + 1]
        mother = record.mother1[index]
        climb = outside & (mother >= 0)
        if long_lived is not None:
            climb &= record.id[np.maximum(mother, 0)] != long_lived
        if not climb.any():
            break
        index = np.where(climb, mother, index)
    moved = index != start
    if not moved.any():
        return start
    # the ancestors (decayed, so none of the final particles) merged in record order
    stay, ancestors = start[~moved], np.unique(index[moved])
    return np.insert(stay, np.searchsorted(stay, ancestors), ancestors)


def final_particles(
    record: Record,
    charge_of: Callable[[np.ndarray], np.ndarray] | Callable[[int], float],
    long_lived: int | None = None,
) -> Collection:
    """Visible final-state particles of each event as one record per particle.

    Args:
        record: the flattened event records.
        charge_of: PDG id -> electric charge in units of e (``ParticleData.charge``),
            either a :class:`PdgLookup` (arrays of ids) or a function of one id.
        long_lived: the PDG id of a particle that may decay anywhere (the displaced-photon
            task's scalar); it is never visible itself.

    Returns:
        Columns ``px, py, pz, e`` (GeV), ``pdg`` (int32), ``charge`` (float64),
        ``vx, vy, vz`` (production vertex, cm) and ``pt, eta, phi`` per particle.
        Neutrinos (and ``long_lived``) are dropped; a particle decaying outside the decay
        volume (:data:`DECAY_RADIUS_CM`, :data:`DECAY_HALF_LENGTH_CM`) stands for its
        decay products.
    """
    abs_id = np.abs(record.id)
    final = np.flatnonzero(record.status > 0)
    index = _decayed_inside(record, final, long_lived)
    abs_id = abs_id[index]
    index = index[
        (abs_id != _NEUTRINOS[0])
        & (abs_id != _NEUTRINOS[1])
        & (abs_id != _NEUTRINOS[2])
        & (record.id[index] != (0 if long_lived is None else long_lived))
    ]
    pdg = record.id[index].astype(np.int32)
    lookup = charge_of if isinstance(charge_of, PdgLookup) else PdgLookup(charge_of)
    vx, vy, vz = record.vertex_rows(index) / 10.0  # mm -> cm
    px, py, pz = record.px[index], record.py[index], record.pz[index]
    pt, eta, phi = kinematics(px, py, pz)
    columns = {
        "px": px,
        "py": py,
        "pz": pz,
        "e": record.e[index],
        "pdg": pdg,
        "charge": lookup(pdg),
        "vx": vx,
        "vy": vy,
        "vz": vz,
        "pt": pt,
        "eta": eta,
        "phi": phi,
    }
    return record.collection(index, columns)


def _last_copy(record: Record, pdg_abs: int) -> np.ndarray:
    """Mask of the last copy of each particle with |id| == pdg_abs (before its decay)."""
    has = np.abs(record.id) == pdg_abs
    daughter = record.daughter1
    daughter_id = np.where(daughter >= 0, record.id[np.maximum(daughter, 0)], 0)
    return has & (daughter_id != record.id)


def jet_truth_objects(record: Record, rule: str | None, is_signal: np.ndarray) -> Collection:
    """Truth objects that label jets: columns ``eta, phi, label``.

    Args:
        record: the flattened event records.
        rule: the task's ``signal_jets``: ``"quark"`` (hard-process quarks 1, gluons 0,
            in every event), ``"top"`` or ``"tau"`` (the last copies of tops or taus
            label 1 in signal events; hard-process partons label 0 in background
            events), or ``None`` (no objects: every jet gets label -1).
        is_signal: bool per event.
    """
    abs_id = np.abs(record.id)
    hard = (np.abs(record.status) == 23) & ((abs_id <= 5) | (abs_id == 21))
    signal = np.asarray(is_signal, dtype=bool)[record.event]
    if rule is None:
        selected = np.zeros(record.id.size, dtype=bool)
        positive = selected
    elif rule == "quark":
        selected = hard
        positive = hard & (abs_id <= 5)
    elif rule in ("top", "tau"):
        positive = _last_copy(record, 6 if rule == "top" else 15) & signal
        selected = positive | (hard & ~signal)
    else:
        msg = f"unknown jet truth rule {rule!r}; expected 'quark', 'top', 'tau' or None"
        raise ValueError(msg)
    index = np.flatnonzero(selected)
    _, eta, phi = record.kinematics(index)
    label = positive[index].astype(np.int32)
    return record.collection(index, {"eta": eta, "phi": phi, "label": label})


def _photon_columns(record: Record, index: np.ndarray, label: np.ndarray) -> Collection:
    """``pt, eta, phi, label`` and the production vertex ``vx, vy, vz`` and its
    transverse distance from the beam ``lxy`` (cm) of the photons ``index``."""
    pt, eta, phi = record.kinematics(index)
    vx, vy, vz = record.vertex_rows(index) / 10.0  # mm -> cm
    columns = {
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "label": label.astype(np.int32),
        "vx": vx,
        "vy": vy,
        "vz": vz,
        "lxy": np.hypot(vx, vy),
    }
    return record.collection(index, columns)


def _hard_in_barrel(record: Record, candidate: np.ndarray) -> np.ndarray:
    """The candidates with pT > :data:`PHOTON_PT_MIN` and |eta| < :data:`BARREL_ETA_MAX`."""
    # the pT cut first: eta only for the few hard candidates
    hard = candidate[np.hypot(record.px[candidate], record.py[candidate]) > PHOTON_PT_MIN]
    _, eta, _ = record.kinematics(hard)
    return hard[np.abs(eta) < BARREL_ETA_MAX]


def photon_candidates(record: Record) -> Collection:
    """Photon candidates: prompt photons (label 1) and neutral pions (label 0).

    A prompt photon is a final-state photon that does not come from a hadron decay
    (Pythia status below 91: hard-process, ISR/FSR photons); a neutral pion stands
    for its photon pair. Both need pT > :data:`PHOTON_PT_MIN` and |eta| inside the
    barrel. Returns columns ``pt, eta, phi, label, vx, vy, vz, lxy`` (see
    :func:`displaced_photons`).
    """
    prompt = (record.id == 22) & (record.status > 0) & (record.status < 91)
    index = _hard_in_barrel(record, np.flatnonzero(prompt | (record.id == 111)))
    return _photon_columns(record, index, prompt[index])


def displaced_photons(record: Record, parent_id: int) -> Collection:
    """Truth photons of the displaced-photon task: the decay photons of the long-lived
    particle ``parent_id`` (label 1) and prompt photons (label 0, status below 91 as in
    :func:`photon_candidates`), with pT > :data:`PHOTON_PT_MIN` and |eta| inside the
    barrel.

    Returns columns ``pt, eta, phi, label``, the production vertex ``vx, vy, vz`` (cm:
    the decay vertex for decay photons) and ``lxy = hypot(vx, vy)``, its transverse
    distance from the beam line.
    """
    photon = (record.id == 22) & (record.status > 0)
    mother = record.mother1
    from_parent = photon & (mother >= 0) & (record.id[np.maximum(mother, 0)] == parent_id)
    prompt = photon & (record.status < 91)
    index = _hard_in_barrel(record, np.flatnonzero(from_parent | prompt))
    return _photon_columns(record, index, from_parent[index])
