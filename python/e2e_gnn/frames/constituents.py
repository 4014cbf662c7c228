"""Graphs of small-radius jets over their reconstructed constituents (the ATLAS
constituent-calibration study, seed 001).

Constituents are calorimeter towers: every cell of the event is summed into the HCAL tower
(0.087 x 0.087) it lies in, ECAL crystals and HCAL cells of all depth layers together, one
massless four-vector per tower at the energy-weighted (eta, phi) of its cells. Tracks are
carried as tower features: a track with pT above the looper limit is followed to the
calorimeter (its phi bent by ``asin(0.3 B R / (2 pT))`` toward its charge, B = 3.8 T,
R = 1.29 m: the generator's detector) and counted in the tower it reaches.

The towers of each event are clustered into anti-kT ``radius`` (default R = 0.2) jets
(FastJet, E scheme). A jet with pT above ``min_pt`` and |eta| below ``max_eta`` (inside the
barrel by more than R) becomes one graph when a truth jet (``small_jets``: the generator's
anti-kT R = 0.2 jets of the final-state particles) lies within ``match_dr`` of it; the
closest one is its reference. Unmatched jets are dropped, counted.

Graph layout (:class:`ConstituentGraphs`): nodes are the jet's towers with the features
``NODE_FEATURES``; edges are the Delaunay triangulation of the towers in (deta, dphi) from
the jet axis (phi wrapped, so a jet across phi = +-pi triangulates as any other), both
directions; ``u`` holds the jet and event features ``GRAPH_FEATURES``; the targets are the
truth jet's energy and rapidity (``TARGETS``), one per graph.

Node features: ``energy`` (GeV), ``log_energy``, ``eta``, ``deta``, ``dphi``, ``dr`` (from
the jet axis), ``ecal1..3`` and ``hcal1..3`` (fraction of the tower energy in each depth
layer), ``n_cells``, ``track_p`` (GeV, summed momentum of the tracks reaching the tower),
``n_tracks``. Graph features: the reco jet's ``jet_energy``, ``jet_pt``, ``jet_eta``,
``jet_rapidity``, ``jet_mass``, ``jet_constituents``, ``jet_track_p`` (momentum of the
tracks reaching the calorimeter within R of the axis), ``jet_ecal_fraction``, and the
event's ``event_jets`` (jets above ``min_pt``, any eta) and ``event_tracks``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from e2e_gnn.frames import geometry as geo
from e2e_gnn.frames.base import event_numbers, flat_collection, flat_hits, require_fields
from e2e_gnn.generate.collection import Collection
from e2e_gnn.generate.jets import jet_definition, match_jets
from e2e_gnn.generate.pythia import import_optional
from e2e_gnn.graphs.builders import delaunay_graph

__all__ = [
    "GRAPH_FEATURES",
    "NODE_FEATURES",
    "TARGETS",
    "ConstituentGraphProducer",
    "ConstituentGraphs",
    "rapidity",
]

DEPTHS = ("ecal1", "ecal2", "ecal3", "hcal1", "hcal2", "hcal3")
NODE_FEATURES: tuple[str, ...] = (
    "energy",
    "log_energy",
    "eta",
    "deta",
    "dphi",
    "dr",
    *DEPTHS,
    "n_cells",
    "track_p",
    "n_tracks",
)
GRAPH_FEATURES: tuple[str, ...] = (
    "jet_energy",
    "jet_pt",
    "jet_eta",
    "jet_rapidity",
    "jet_mass",
    "jet_constituents",
    "jet_track_p",
    "jet_ecal_fraction",
    "event_jets",
    "event_tracks",
)
TARGETS: tuple[str, ...] = ("true_energy", "true_rapidity")

# the generator's detector (DetectorConfig defaults): tracks bend on the way to the ECAL
_BEND = 0.3 * 3.8 * 1.29 / 2.0  # GeV: asin argument times pT; the looper limit
_TOWERS_PER_EVENT = geo.HCAL_NETA * geo.HCAL_NPHI


def rapidity(pt: np.ndarray, eta: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Rapidity asinh(pz / mT) of (pt, eta, mass), mT = sqrt(pt^2 + mass^2)."""
    pt, eta, mass = (np.asarray(a, dtype=np.float64) for a in (pt, eta, mass))
    return np.arcsinh(pt * np.sinh(eta) / np.maximum(np.hypot(pt, mass), 1e-12))


@dataclass
class ConstituentGraphs:
    """Jet graphs of a chunk of events, in the GraphBatch layout plus graph-level arrays.

    ``u`` float32 [G, len(GRAPH_FEATURES)]; ``columns``: per-graph arrays [G]: the
    ``TARGETS``, ``event``, ``index`` (the jet's position among the event's clustered jets,
    pT-ordered), ``truth_index`` (its truth jet's index in ``small_jets``), ``match_dr``.
    """

    x: np.ndarray
    edge_index: np.ndarray
    batch: np.ndarray
    num_graphs: int
    u: np.ndarray
    columns: dict[str, np.ndarray]
    feature_names: tuple[str, ...] = NODE_FEATURES
    graph_feature_names: tuple[str, ...] = GRAPH_FEATURES
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.num_graphs


@dataclass(frozen=True)
class _Towers:
    entry: np.ndarray  # event entry of each tower, towers grouped by entry
    energy: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    depth: np.ndarray  # [T, 6] energy per depth layer
    n_cells: np.ndarray
    key: np.ndarray  # sorted (entry, row, col) key


def _towers(h: dict[str, np.ndarray], entry: np.ndarray) -> _Towers:
    row, col = geo.hcal_row(h["eta"]), geo.hcal_col(h["phi"])
    key = (entry * geo.HCAL_NETA + row) * geo.HCAL_NPHI + col
    keys, tower = np.unique(key, return_inverse=True)
    n = len(keys)
    energy = np.asarray(h["energy"], dtype=np.float64)
    total = np.bincount(tower, energy, minlength=n)
    depth_index = h["layer"].astype(np.int64) + geo.ECAL_LAYERS * h["subdet"].astype(np.int64)
    depth = np.bincount(tower * len(DEPTHS) + depth_index, energy, minlength=n * len(DEPTHS))
    centre_eta, centre_phi = geo.cell_centre(
        (keys // geo.HCAL_NPHI) % geo.HCAL_NETA - geo.HCAL_NETA // 2,
        keys % geo.HCAL_NPHI,
        np.ones(n, dtype=np.int64),
    )
    centre_phi64 = centre_phi.astype(np.float64)
    weight = np.maximum(total, 1e-12)
    eta = np.bincount(tower, energy * h["eta"], minlength=n) / weight
    dphi = geo.delta_phi(np.asarray(h["phi"], dtype=np.float64), centre_phi64[tower])
    phi = geo.delta_phi(centre_phi64 + np.bincount(tower, energy * dphi, minlength=n) / weight, 0)
    return _Towers(
        entry=keys // _TOWERS_PER_EVENT,
        energy=total,
        eta=np.where(total > 0, eta, centre_eta),
        phi=phi,
        depth=depth.reshape(n, len(DEPTHS)),
        n_cells=np.bincount(tower, minlength=n).astype(np.float64),
        key=keys,
    )


@dataclass(frozen=True)
class ConstituentGraphProducer:
    """Calorimeter-tower graphs of anti-kT jets matched to truth jets.

    Args:
        radius: anti-kT distance parameter of the reco and (generated) truth jets
            (default: 0.2).
        min_pt: reco jets at or below this pT (GeV) are not kept (default: 5).
        max_eta: reco jets at or beyond this |eta| are not kept (default: 1.2, so that the
            whole jet lies in the barrel |eta| < 1.479).
        match_dr: the truth jet must lie within this Delta R of the reco jet (default: 0.15,
            0.75 R).
    """

    radius: float = 0.2
    min_pt: float = 5.0
    max_eta: float = 1.2
    match_dr: float = 0.15

    def __post_init__(self) -> None:
        for name in ("radius", "min_pt", "max_eta", "match_dr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                msg = f"{type(self).__name__}: {name} must be finite and > 0, got {value!r}"
                raise ValueError(msg)

    def __call__(self, events: ak.Array) -> ConstituentGraphs:
        who = type(self).__name__
        require_fields(events, "small_jets", ("pt", "eta", "phi", "mass"), who)
        require_fields(events, "tracks", ("pt", "eta", "phi", "charge"), who)
        h, h_entry, _ = flat_hits(events, ("eta", "phi", "energy", "subdet", "layer"), who)
        t, t_entry, _ = flat_collection(events, "tracks", ("pt", "eta", "phi", "charge"))
        truth, truth_entry, _ = flat_collection(events, "small_jets", ("pt", "eta", "phi", "mass"))
        n_events = len(events)
        towers = _towers(h, h_entry)
        tower_counts = np.bincount(towers.entry, minlength=n_events)
        tower_start = np.concatenate([[0], np.cumsum(tower_counts)[:-1]])

        # tracks at the calorimeter, summed into the towers they reach
        t_pt = np.asarray(t["pt"], dtype=np.float64)
        reach = t_pt > _BEND
        t_eta = np.asarray(t["eta"], dtype=np.float64)
        t_phi = geo.delta_phi(
            np.asarray(t["phi"], dtype=np.float64)
            - np.sign(t["charge"]) * np.arcsin(np.minimum(_BEND / np.maximum(t_pt, 1e-12), 1.0)),
            0.0,
        )
        t_p = t_pt * np.cosh(t_eta)
        t_key = (t_entry * geo.HCAL_NETA + geo.hcal_row(t_eta)) * geo.HCAL_NPHI + geo.hcal_col(
            t_phi
        )
        n_towers = len(towers.key)
        slot = np.minimum(np.searchsorted(towers.key, t_key), max(n_towers - 1, 0))
        hit = reach & (towers.key[slot] == t_key) if n_towers else np.zeros_like(reach)
        track_p = np.bincount(slot[hit], t_p[hit], minlength=n_towers)
        n_tracks = np.bincount(slot[hit], minlength=n_towers).astype(np.float64)

        jets, jet_tower = self._cluster(towers, tower_counts, tower_start, n_events)
        jet_entry = jets.event
        event_jets = jets.counts.astype(np.float64)
        truth_coll = Collection.from_event_index(
            truth_entry, {"eta": truth["eta"], "phi": truth["phi"]}, n_events
        )
        match = match_jets(jets, truth_coll) if len(jet_entry) else np.zeros(0, dtype=np.int64)
        best = np.maximum(match, 0)
        match_dr = np.full(len(jet_entry), np.inf)
        if len(truth_entry):
            match_dr = np.where(
                match >= 0,
                np.hypot(
                    jets["eta"] - truth["eta"][best],
                    geo.delta_phi(jets["phi"], truth["phi"][best]),
                ),
                np.inf,
            )
        central = np.abs(jets["eta"]) < self.max_eta
        matched = central & (match_dr < self.match_dr)
        keep = np.flatnonzero(matched)
        dropped = {
            "outside_eta": int((~central).sum()),
            "unmatched": int((central & ~matched).sum()),
        }

        # nodes: the towers of each kept jet, in tower order
        jet_local = np.arange(len(jet_entry)) - np.repeat(
            np.cumsum(jets.counts) - jets.counts, jets.counts
        )
        graph_of_jet = np.full(len(jet_entry), -1, dtype=np.int64)
        graph_of_jet[keep] = np.arange(len(keep))
        clustered = np.flatnonzero(jet_tower >= 0)  # -1: in no jet above min_pt
        node_tower = clustered[graph_of_jet[jet_tower[clustered]] >= 0]
        node_graph = graph_of_jet[jet_tower[node_tower]]
        order = np.lexsort((node_tower, node_graph))
        node_tower, node_graph = node_tower[order], node_graph[order]
        num_graphs = len(keep)
        jet_of_node = keep[node_graph]
        deta = towers.eta[node_tower] - jets["eta"][jet_of_node]
        dphi = geo.delta_phi(towers.phi[node_tower], jets["phi"][jet_of_node])
        energy = towers.energy[node_tower]
        fractions = towers.depth[node_tower] / np.maximum(energy, 1e-12)[:, None]
        x = np.column_stack(
            [
                energy,
                np.log(np.maximum(energy, 1e-3)),
                towers.eta[node_tower],
                deta,
                dphi,
                np.hypot(deta, dphi),
                fractions,
                towers.n_cells[node_tower],
                track_p[node_tower],
                n_tracks[node_tower],
            ]
        ).astype(np.float32)
        counts = np.bincount(node_graph, minlength=num_graphs)
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        edge_index = delaunay_graph(np.column_stack([deta, dphi]).astype(np.float32), ptr)

        # graph features
        ecal = np.bincount(
            node_graph, towers.depth[node_tower, : geo.ECAL_LAYERS].sum(axis=1), num_graphs
        )
        jet_e = jets["energy"][keep]
        track_p_in_jet = self._tracks_near(
            jets, keep, t_entry[reach], t_eta[reach], t_phi[reach], t_p[reach]
        )
        u = np.column_stack(
            [
                jet_e,
                jets["pt"][keep],
                jets["eta"][keep],
                rapidity(jets["pt"][keep], jets["eta"][keep], jets["mass"][keep]),
                jets["mass"][keep],
                counts,
                track_p_in_jet,
                ecal / np.maximum(jet_e, 1e-12),
                event_jets[jet_entry[keep]],
                np.bincount(t_entry, minlength=n_events)[jet_entry[keep]],
            ]
        ).astype(np.float32)
        ref = best[keep]
        t_pt_ref = np.asarray(truth["pt"], dtype=np.float64)[ref]
        t_eta_ref = np.asarray(truth["eta"], dtype=np.float64)[ref]
        t_mass_ref = np.asarray(truth["mass"], dtype=np.float64)[ref]
        local_truth = (
            ref - np.concatenate([[0], np.cumsum(truth_coll.counts)[:-1]])[jet_entry[keep]]
        )
        columns = {
            "true_energy": np.hypot(t_pt_ref * np.cosh(t_eta_ref), t_mass_ref).astype(np.float32),
            "true_rapidity": rapidity(t_pt_ref, t_eta_ref, t_mass_ref).astype(np.float32),
            "event": event_numbers(events)[jet_entry[keep]],
            "index": jet_local[keep].astype(np.int64),
            "truth_index": local_truth.astype(np.int64),
            "match_dr": match_dr[keep].astype(np.float32),
        }
        return ConstituentGraphs(
            x=x,
            edge_index=edge_index,
            batch=np.repeat(np.arange(num_graphs, dtype=np.int64), counts),
            num_graphs=num_graphs,
            u=u,
            columns=columns,
            dropped=dropped,
        )

    def _cluster(
        self,
        towers: _Towers,
        counts: np.ndarray,
        start: np.ndarray,
        n_events: int,
    ) -> tuple[Collection, np.ndarray]:
        """Anti-kT jets of the towers of each event (pt, eta, phi, mass, energy; pT-ordered
        per event, pT > min_pt) and the jet (index into them) of each tower, -1 for none."""
        fastjet = import_optional("fastjet")
        pt = towers.energy / np.cosh(towers.eta)
        columns = {
            "px": pt * np.cos(towers.phi),
            "py": pt * np.sin(towers.phi),
            "pz": pt * np.sinh(towers.eta),
            "E": towers.energy,
        }
        jet_tower = np.full(len(towers.energy), -1, dtype=np.int64)
        names = ("pt", "eta", "phi", "mass", "energy")
        if len(towers.energy) == 0:
            empty = {n: np.zeros(0) for n in names}
            return Collection(empty, np.zeros(n_events, dtype=np.int64)), jet_tower
        vectors = Collection(columns, counts).to_awkward(with_name="Momentum4D")
        sequence = fastjet.ClusterSequence(vectors, jet_definition(self.radius))
        found = Collection.from_awkward(
            sequence.inclusive_jets(min_pt=self.min_pt), ("px", "py", "pz", "E")
        )
        index = sequence.constituent_index(min_pt=self.min_pt)
        per_jet = ak.num(index, axis=2)
        flat_index = ak.to_numpy(ak.flatten(index, axis=None)).astype(np.int64)
        jet_event = found.event
        towers_per_jet = ak.to_numpy(ak.flatten(per_jet, axis=None)).astype(np.int64)
        px, py, pz, e = (np.asarray(found[n], dtype=np.float64) for n in ("px", "py", "pz", "E"))
        jet_pt = np.hypot(px, py)
        jet_eta = np.arcsinh(pz / np.maximum(jet_pt, 1e-12))
        # pT order within each event (FastJet's inclusive jets come unordered)
        order = np.lexsort((-jet_pt, jet_event))
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        global_tower = np.repeat(start[jet_event], towers_per_jet) + flat_index
        jet_tower[global_tower] = np.repeat(rank, towers_per_jet)
        values = {
            "pt": jet_pt,
            "eta": jet_eta,
            "phi": np.arctan2(py, px),
            "mass": np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0)),
            "energy": e,
        }
        jets = Collection.from_event_index(
            jet_event[order], {n: values[n][order] for n in names}, n_events
        )
        return jets, jet_tower

    def _tracks_near(
        self,
        jets: Collection,
        keep: np.ndarray,
        entry: np.ndarray,
        eta: np.ndarray,
        phi: np.ndarray,
        p: np.ndarray,
    ) -> np.ndarray:
        """Summed momentum of the tracks (at the calorimeter) within ``radius`` of each kept
        jet's axis."""
        jet_entry = jets.event[keep]
        out = np.zeros(len(keep))
        if not len(keep) or not len(entry):
            return out
        order = np.argsort(entry, kind="stable")
        lo = np.searchsorted(entry[order], jet_entry, side="left")
        hi = np.searchsorted(entry[order], jet_entry, side="right")
        n = hi - lo
        pair_jet = np.repeat(np.arange(len(keep)), n)
        pair_track = order[np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))]
        dr = np.hypot(
            eta[pair_track] - jets["eta"][keep][pair_jet],
            geo.delta_phi(phi[pair_track], jets["phi"][keep][pair_jet]),
        )
        near = dr < self.radius
        return np.bincount(pair_jet[near], p[pair_track][near], minlength=len(keep))
