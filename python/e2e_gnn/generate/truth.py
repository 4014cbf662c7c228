"""Generator truth from Pythia8 event records held as awkward arrays.

The input is what ``pythia8mc.Pythia.nextBatch`` returns: ``events.prt`` is a jagged
array of particle records (``id``, ``status``, ``daughter1``, ``p`` as a px/py/pz/e
record, ``vProd`` as an optional x/y/z/t record in mm, ...), one list per event.
Everything here is vectorised over a whole batch of events; nothing loops over
particles in Python.
"""

from __future__ import annotations

from collections.abc import Callable

import awkward as ak
import numpy as np

__all__ = [
    "BARREL_ETA_MAX",
    "PHOTON_PT_MIN",
    "final_particles",
    "jet_truth_objects",
    "photon_candidates",
]

BARREL_ETA_MAX = 1.479
"""|eta| acceptance of the barrel calorimeter; photon candidates are kept inside it."""

PHOTON_PT_MIN = 20.0
"""GeV; the pT above which prompt photons and neutral pions become photon candidates."""

_NEUTRINOS = (12, 14, 16)


def _pt_eta_phi(p: ak.Array) -> tuple[ak.Array, ak.Array, ak.Array]:
    pt = np.hypot(p.px, p.py)
    eta = np.arcsinh(p.pz / np.maximum(pt, 1e-12))
    phi = np.arctan2(p.py, p.px)
    return pt, eta, phi


def _lookup(ids: np.ndarray, table: Callable[[int], float]) -> np.ndarray:
    """Evaluate a per-PDG-id function on an array of ids, once per distinct id."""
    unique, inverse = np.unique(ids, return_inverse=True)
    values = np.array([table(int(pdg)) for pdg in unique], dtype=np.float64)
    return values[inverse]


def final_particles(prt: ak.Array, charge_of: Callable[[int], float]) -> ak.Array:
    """Visible final-state particles of each event as one record per particle.

    Args:
        prt: the ``prt`` field of a ``nextBatch`` result.
        charge_of: PDG id -> electric charge in units of e (``ParticleData.charge``).

    Returns:
        A jagged array of records ``px, py, pz, e`` (GeV), ``pdg`` (int32), ``charge``
        (float64) and ``vx, vy, vz`` (production vertex, cm). Neutrinos are dropped.
    """
    final = prt[(prt.status > 0) & ~_isin_abs(prt.id, _NEUTRINOS)]
    counts = ak.num(final, axis=1)
    pdg = ak.to_numpy(ak.flatten(final.id)).astype(np.int32)
    charge = _lookup(pdg, charge_of)
    vertex = final.vProd
    fields = {
        "px": final.p.px,
        "py": final.p.py,
        "pz": final.p.pz,
        "e": final.p.e,
        "pdg": ak.unflatten(pdg, counts),
        "charge": ak.unflatten(charge, counts),
        # Pythia writes no vertex for particles made at the origin; mm -> cm
        "vx": ak.fill_none(vertex.px, 0.0) / 10.0,
        "vy": ak.fill_none(vertex.py, 0.0) / 10.0,
        "vz": ak.fill_none(vertex.pz, 0.0) / 10.0,
    }
    return ak.zip(fields)


def _isin_abs(ids: ak.Array, values: tuple[int, ...]) -> ak.Array:
    flat = ak.to_numpy(ak.flatten(ids))
    return ak.unflatten(np.isin(np.abs(flat), values), ak.num(ids, axis=1))


def _last_copy(prt: ak.Array, pdg_abs: int) -> ak.Array:
    """Mask of the last copy of each particle with |id| == pdg_abs (before its decay)."""
    has = np.abs(prt.id) == pdg_abs
    first_daughter = ak.where(prt.daughter1 > 0, prt.daughter1, 0)
    return has & (prt.id[first_daughter] != prt.id)


def jet_truth_objects(prt: ak.Array, rule: str | None, is_signal: np.ndarray) -> ak.Array:
    """Truth objects that label jets, one jagged list of ``eta, phi, label`` per event.

    Args:
        prt: the ``prt`` field of a ``nextBatch`` result.
        rule: the task's ``signal_jets``: ``"quark"`` (hard-process quarks 1, gluons 0,
            in every event), ``"top"`` or ``"tau"`` (the last copies of tops or taus
            label 1 in signal events; hard-process partons label 0 in background
            events), or ``None`` (no objects: every jet gets label -1).
        is_signal: bool per event.
    """
    hard = (abs(prt.status) == 23) & ((abs(prt.id) <= 5) | (prt.id == 21))
    quark = (abs(prt.id) <= 5) & hard
    signal = ak.broadcast_arrays(ak.Array(np.asarray(is_signal, dtype=bool)), prt.id)[0]
    if rule is None:
        selected = prt.id != prt.id
        label = ak.zeros_like(prt.id)
    elif rule == "quark":
        selected = hard
        label = ak.values_astype(quark, np.int32)
    elif rule in ("top", "tau"):
        mask = _last_copy(prt, 6 if rule == "top" else 15)
        selected = (mask & signal) | (hard & ~signal)
        label = ak.values_astype(mask & signal, np.int32)
    else:
        msg = f"unknown jet truth rule {rule!r}; expected 'quark', 'top', 'tau' or None"
        raise ValueError(msg)
    _, eta, phi = _pt_eta_phi(prt.p[selected])
    return ak.zip({"eta": eta, "phi": phi, "label": label[selected]})


def photon_candidates(prt: ak.Array) -> ak.Array:
    """Photon candidates: prompt photons (label 1) and neutral pions (label 0).

    A prompt photon is a final-state photon that does not come from a hadron decay
    (Pythia status below 91: hard-process, ISR/FSR photons); a neutral pion stands
    for its photon pair. Both need pT > :data:`PHOTON_PT_MIN` and |eta| inside the
    barrel. Returns a jagged list of ``pt, eta, phi, label`` per event.
    """
    pt, eta, phi = _pt_eta_phi(prt.p)
    prompt = (prt.id == 22) & (prt.status > 0) & (prt.status < 91)
    pion = prt.id == 111
    keep = (prompt | pion) & (pt > PHOTON_PT_MIN) & (abs(eta) < BARREL_ETA_MAX)
    label = ak.values_astype(prompt, np.int32)
    return ak.zip({"pt": pt[keep], "eta": eta[keep], "phi": phi[keep], "label": label[keep]})
