"""Anti-kT jets from visible final-state particles (FastJet, vectorised input) and labels."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from .collection import Collection
from .pythia import import_optional
from .truth import kinematics

__all__ = [
    "JET_ETA_MAX",
    "JET_PT_MIN",
    "JET_R",
    "MATCH_DR",
    "SMALL_JET_PT_MIN",
    "SMALL_JET_R",
    "cluster_jets",
    "jet_definition",
    "label_jets",
    "match_jets",
    "matched_values",
]

JET_R = 0.4
"""Anti-kT distance parameter."""
JET_PT_MIN = 20.0
"""GeV; jets below are not written."""
JET_ETA_MAX = 2.5
"""|eta| of the jets written; only particles with |eta| < JET_ETA_MAX + JET_R are clustered."""
MATCH_DR = 0.4
"""A jet takes the label of the closest truth object within this Delta R, else -1."""
SMALL_JET_R = 0.2
"""Distance parameter of the small truth jets (``SmallJet``: the constituent-calibration
study's truth reference)."""
SMALL_JET_PT_MIN = 10.0
"""GeV; small jets below are not written."""


@cache
def jet_definition(r: float) -> Any:
    """The (cached) FastJet anti-kT definition of radius ``r``."""
    fastjet = import_optional("fastjet")
    return fastjet.JetDefinition(fastjet.antikt_algorithm, r)


def cluster_jets(particles: Collection, r: float = JET_R, pt_min: float = JET_PT_MIN) -> Collection:
    """Cluster each event's particles into anti-kT jets of radius ``r`` (default R=0.4).

    Args:
        particles: particles with ``px, py, pz, e`` (GeV) per event (and ``eta``, used
            when present).
        r: the anti-kT distance parameter.
        pt_min: jets at or below this pT (GeV) are not kept.

    Returns:
        Jets with ``pt, eta, phi, mass`` per event, pT-ordered, with
        pT > ``pt_min`` and |eta| < :data:`JET_ETA_MAX`.
    """
    fastjet = import_optional("fastjet")
    px, py, pz, e = (particles[name] for name in ("px", "py", "pz", "e"))
    eta = particles["eta"] if "eta" in particles.columns else kinematics(px, py, pz)[1]
    keep = np.abs(eta) < JET_ETA_MAX + r
    inputs = Collection.from_event_index(
        particles.event[keep],
        {"px": px[keep], "py": py[keep], "pz": pz[keep], "E": e[keep]},
        particles.n_events,
    )
    sequence = fastjet.ClusterSequence(inputs.to_awkward(with_name="Momentum4D"), jet_definition(r))
    jets = Collection.from_awkward(sequence.inclusive_jets(min_pt=pt_min), ("px", "py", "pz", "E"))
    px, py, pz, e = (jets[name] for name in ("px", "py", "pz", "E"))
    pt, eta, phi = kinematics(px, py, pz)
    mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    event = jets.event
    keep = np.flatnonzero(np.abs(eta) < JET_ETA_MAX)
    keep = keep[np.lexsort((-pt[keep], event[keep]))]
    columns = {"pt": pt, "eta": eta, "phi": phi, "mass": mass}
    return Collection.from_event_index(
        event[keep], {name: v[keep] for name, v in columns.items()}, particles.n_events
    )


def delta_phi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """phi difference wrapped into [-pi, pi)."""
    return (a - b + np.pi) % (2 * np.pi) - np.pi


def match_jets(jets: Collection, truth: Collection) -> np.ndarray:
    """Index (into ``truth``) of the closest truth object within :data:`MATCH_DR` of each
    jet (minimal Delta R), -1 when there is none.

    Args:
        jets: jets with ``eta, phi``.
        truth: truth objects with ``eta, phi`` (same events).
    """
    jet_event = jets.event
    obj_start = np.concatenate([[0], np.cumsum(truth.counts)[:-1]])
    # every (jet, truth object of the same event) pair
    per_jet = truth.counts[jet_event]
    pair_jet = np.repeat(np.arange(jet_event.size), per_jet)
    first_pair = np.repeat(np.cumsum(per_jet) - per_jet, per_jet)
    pair_obj = np.repeat(obj_start[jet_event], per_jet) + np.arange(pair_jet.size) - first_pair
    deta = jets["eta"][pair_jet] - truth["eta"][pair_obj]
    dr = np.hypot(deta, delta_phi(jets["phi"][pair_jet], truth["phi"][pair_obj]))
    order = np.lexsort((dr, pair_jet))
    first = np.ones(order.size, dtype=bool)
    first[1:] = pair_jet[order][1:] != pair_jet[order][:-1]
    best = order[first]
    index = np.full(jet_event.size, -1, dtype=np.int64)
    matched = best[dr[best] < MATCH_DR]
    index[pair_jet[matched]] = pair_obj[matched]
    return index


def label_jets(jets: Collection, truth: Collection) -> np.ndarray:
    """Label of each jet: that of the closest truth object within :data:`MATCH_DR`, else -1.

    Args:
        jets: jets with ``eta, phi``.
        truth: truth objects with ``eta, phi, label`` (same events).

    Returns:
        int32 labels, one per jet.
    """
    return matched_values(match_jets(jets, truth), truth["label"], -1).astype(np.int32)


def matched_values(index: np.ndarray, values: np.ndarray, missing: float) -> np.ndarray:
    """``values[index]``, ``missing`` where ``index`` is -1 (see :func:`match_jets`)."""
    if values.size == 0:
        return np.full(index.size, missing)
    return np.where(index >= 0, values[np.maximum(index, 0)], missing)
