"""Anti-kT jets from visible final-state particles (FastJet, vectorised input) and labels."""

from __future__ import annotations

import awkward as ak
import numpy as np

from .pythia import import_optional

__all__ = ["JET_ETA_MAX", "JET_PT_MIN", "JET_R", "MATCH_DR", "cluster_jets", "label_jets"]

JET_R = 0.4
"""Anti-kT distance parameter."""
JET_PT_MIN = 20.0
"""GeV; jets below are not written."""
JET_ETA_MAX = 2.5
"""|eta| of the jets written; only particles with |eta| < JET_ETA_MAX + JET_R are clustered."""
MATCH_DR = 0.4
"""A jet takes the label of the closest truth object within this Delta R, else -1."""


def cluster_jets(particles: ak.Array) -> ak.Array:
    """Cluster each event's particles into anti-kT R=0.4 jets.

    Args:
        particles: jagged records with ``px, py, pz, e`` (GeV), one list per event.

    Returns:
        Jagged records ``pt, eta, phi, mass`` per event, pT-ordered, with
        pT > :data:`JET_PT_MIN` and |eta| < :data:`JET_ETA_MAX`.
    """
    fastjet = import_optional("fastjet")
    pt = np.hypot(particles.px, particles.py)
    eta = np.arcsinh(particles.pz / np.maximum(pt, 1e-12))
    inputs = particles[abs(eta) < JET_ETA_MAX + JET_R]
    vectors = ak.zip(
        {"px": inputs.px, "py": inputs.py, "pz": inputs.pz, "E": inputs.e},
        with_name="Momentum4D",
    )
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_R)
    jets = fastjet.ClusterSequence(vectors, definition).inclusive_jets(min_pt=JET_PT_MIN)
    jet_pt = np.hypot(jets.px, jets.py)
    jet_eta = np.arcsinh(jets.pz / np.maximum(jet_pt, 1e-12))
    mass2 = jets.E**2 - jets.px**2 - jets.py**2 - jets.pz**2
    out = ak.zip(
        {
            "pt": jet_pt,
            "eta": jet_eta,
            "phi": np.arctan2(jets.py, jets.px),
            "mass": np.sqrt(np.maximum(mass2, 0.0)),
        }
    )
    out = out[abs(out.eta) < JET_ETA_MAX]
    return out[ak.argsort(out.pt, axis=1, ascending=False)]


def delta_phi(a: ak.Array | np.ndarray, b: ak.Array | np.ndarray) -> ak.Array | np.ndarray:
    """phi difference wrapped into [-pi, pi)."""
    return (a - b + np.pi) % (2 * np.pi) - np.pi


def label_jets(jets: ak.Array, truth: ak.Array) -> ak.Array:
    """Label of each jet: that of the closest truth object within :data:`MATCH_DR`, else -1.

    Args:
        jets: jagged records with ``eta, phi``.
        truth: jagged records with ``eta, phi, label`` (same number of events).

    Returns:
        Jagged int32 labels, one per jet.
    """
    pairs = ak.cartesian({"jet": jets, "obj": truth}, axis=1, nested=True)
    dr = np.hypot(pairs.jet.eta - pairs.obj.eta, delta_phi(pairs.jet.phi, pairs.obj.phi))
    best = ak.argmin(dr, axis=2, keepdims=True)
    best_dr = ak.firsts(dr[best], axis=2)
    best_label = ak.firsts(pairs.obj.label[best], axis=2)
    matched = ak.fill_none(best_dr < MATCH_DR, False)
    return ak.values_astype(ak.where(matched, ak.fill_none(best_label, -1), -1), np.int32)
