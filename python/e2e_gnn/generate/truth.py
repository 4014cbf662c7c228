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
    "PHOTON_PT_MIN",
    "PdgLookup",
    "Record",
    "final_particles",
    "jet_truth_objects",
    "kinematics",
    "photon_candidates",
]

BARREL_ETA_MAX = 1.479
"""|eta| acceptance of the barrel calorimeter; photon candidates are kept inside it."""

PHOTON_PT_MIN = 20.0
"""GeV; the pT above which prompt photons and neutral pions become photon candidates."""

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

    ``event`` is the event index of each entry and ``daughter1`` the global index of
    its first daughter (-1 when it has none). Production vertices (mm) are stored as
    Pythia does, only where set: ``vertex_index`` points into ``vertices`` [V, 3]
    (-1 for particles made at the origin); :meth:`vertex` reads them.
    """

    n_events: int
    event: np.ndarray
    id: np.ndarray
    status: np.ndarray
    daughter1: np.ndarray
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
        # global daughter indices: shift into the concatenation, then follow the reorder
        where = np.empty(order.size, dtype=np.int64)
        where[order] = np.arange(order.size)
        daughter = np.concatenate(
            [
                np.where(r.daughter1 >= 0, r.daughter1 + o, -1)
                for r, o in zip(records, offset, strict=True)
            ]
        )
        daughter = np.where(daughter >= 0, where[np.maximum(daughter, 0)], -1)
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
            daughter1=daughter[order],
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


def final_particles(
    record: Record, charge_of: Callable[[np.ndarray], np.ndarray] | Callable[[int], float]
) -> Collection:
    """Visible final-state particles of each event as one record per particle.

    Args:
        record: the flattened event records.
        charge_of: PDG id -> electric charge in units of e (``ParticleData.charge``),
            either a :class:`PdgLookup` (arrays of ids) or a function of one id.

    Returns:
        Columns ``px, py, pz, e`` (GeV), ``pdg`` (int32), ``charge`` (float64),
        ``vx, vy, vz`` (production vertex, cm) and ``pt, eta, phi`` per particle.
        Neutrinos are dropped.
    """
    abs_id = np.abs(record.id)
    index = np.flatnonzero(
        (record.status > 0)
        & (abs_id != _NEUTRINOS[0])
        & (abs_id != _NEUTRINOS[1])
        & (abs_id != _NEUTRINOS[2])
    )
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


def photon_candidates(record: Record) -> Collection:
    """Photon candidates: prompt photons (label 1) and neutral pions (label 0).

    A prompt photon is a final-state photon that does not come from a hadron decay
    (Pythia status below 91: hard-process, ISR/FSR photons); a neutral pion stands
    for its photon pair. Both need pT > :data:`PHOTON_PT_MIN` and |eta| inside the
    barrel. Returns columns ``pt, eta, phi, label``.
    """
    prompt = (record.id == 22) & (record.status > 0) & (record.status < 91)
    candidate = np.flatnonzero(prompt | (record.id == 111))
    # the pT cut first: eta and phi only for the few hard candidates
    hard = candidate[np.hypot(record.px[candidate], record.py[candidate]) > PHOTON_PT_MIN]
    pt, eta, phi = record.kinematics(hard)
    keep = np.abs(eta) < BARREL_ETA_MAX
    index = hard[keep]
    columns = {
        "pt": pt[keep],
        "eta": eta[keep],
        "phi": phi[keep],
        "label": prompt[index].astype(np.int32),
    }
    return record.collection(index, columns)
