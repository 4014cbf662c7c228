"""ConstituentGraphProducer (``frames --kind constituents``) against hand-computed towers,
jets, features, targets and Delaunay edges."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from _frames_events import FIELDS, ecal_centre, ecal_hit, hcal_hit

from e2e_gnn.frames.constituents import (
    GRAPH_FEATURES,
    NODE_FEATURES,
    TARGETS,
    ConstituentGraphProducer,
)
from e2e_gnn.frames.run import make_frames
from e2e_gnn.io import load_events, load_schema, read_graphs

pytest.importorskip("fastjet")

SMALL_JET = {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4"}
BEND = 0.3 * 3.8 * 1.29 / 2  # GeV: the track bending at the ECAL radius, times pT


def _write(path: Path, events: list[dict[str, list[dict[str, Any]]]]) -> ak.Array:
    """Events in the generator schema v1 layout, with the SmallJet collection."""
    data: dict[str, Any] = {
        "task": np.zeros(len(events), dtype=np.int32),
        "event": np.arange(500, 500 + len(events), dtype=np.int64),
    }
    for coll, fields in {**FIELDS, "SmallJet": SMALL_JET}.items():
        counts = np.array([len(ev.get(coll, [])) for ev in events], dtype=np.int64)
        data[coll] = ak.zip(
            {
                name: ak.unflatten(
                    np.array(
                        [o.get(name, 0) for ev in events for o in ev.get(coll, [])], dtype=dtype
                    ),
                    counts,
                )
                for name, dtype in fields.items()
            }
        )
    with uproot.recreate(path) as f:
        f.mktree("Events", data)
    return load_events(path, load_schema("e2e_gnn"))


def _massless_sum(energy: list[float], eta: list[float], phi: list[float]) -> tuple[float, ...]:
    """(E, pt, eta, phi, mass) of a sum of massless four-vectors, written out."""
    e = np.asarray(energy, dtype=np.float64)
    pt = e / np.cosh(eta)
    px, py, pz = (pt * np.cos(phi)).sum(), (pt * np.sin(phi)).sum(), (pt * np.sinh(eta)).sum()
    jet_pt = math.hypot(px, py)
    mass = math.sqrt(max(e.sum() ** 2 - px**2 - py**2 - pz**2, 0.0))
    return e.sum(), jet_pt, math.asinh(pz / jet_pt), math.atan2(py, px), mass


def _event() -> dict[str, list[dict[str, Any]]]:
    phi_t = ecal_centre(28, 72)[1]  # in tower (5, 14), the jet's
    return {
        "Hit": [
            ecal_hit(28, 72, 10.0, layer=0),  # tower A = HCAL tower (5, 14)
            hcal_hit(5, 14, 5.0, layer=1),  # tower A
            ecal_hit(33, 72, 4.0, layer=0),  # tower B = (6, 14)
            ecal_hit(-46, 72, 8.0),  # eta -0.79: a jet of pT 6 GeV, no truth jet there
            ecal_hit(78, 200, 25.0),  # eta 1.37: a jet of pT 11.9 GeV, beyond max_eta
        ],
        "Track": [
            # bent by asin(BEND / pT) toward its charge on the way: reaches tower A
            {"pt": 12.0, "eta": 0.49, "phi": phi_t + math.asin(BEND / 12.0), "charge": 1},
            # a looper (pT < BEND) pointing at tower B: never reaches the calorimeter
            {"pt": 0.5, "eta": 0.58, "phi": phi_t, "charge": -1},
        ],
        "SmallJet": [{"pt": 20.0, "eta": 0.52, "phi": 1.27, "mass": 2.0}],
    }


def test_jet_graph_hand_computed(tmp_path: Path) -> None:
    events = _write(tmp_path / "e.root", [_event(), {}])  # the second event is empty
    graphs = ConstituentGraphProducer()(events)
    assert graphs.num_graphs == 1 and graphs.x.shape == (2, len(NODE_FEATURES))
    assert graphs.dropped == {"outside_eta": 1, "unmatched": 1}
    eta_a = (10 * ecal_centre(28, 72)[0] + 5 * (5.5 * 5 * 0.0174)) / 15
    eta_b, phi = ecal_centre(33, 72)
    jet_e, jet_pt, jet_eta, jet_phi, jet_mass = _massless_sum([15, 4], [eta_a, eta_b], [phi, phi])
    track_p = 12 * math.cosh(0.49)
    deta = np.array([eta_a, eta_b]) - jet_eta
    dphi = phi - jet_phi
    expected = np.array(
        [
            # energy, log E, eta, deta, dphi, dr, ecal1-3, hcal1-3, cells, track p, tracks
            [15, math.log(15), eta_a, deta[0], dphi, abs(deta[0]), 10 / 15, 0, 0, 0, 5 / 15, 0,
             2, track_p, 1],
            [4, math.log(4), eta_b, deta[1], dphi, abs(deta[1]), 1, 0, 0, 0, 0, 0, 1, 0, 0],
        ]
    )  # fmt: skip
    np.testing.assert_allclose(graphs.x, expected, rtol=1e-5, atol=1e-5)
    # two nodes: one Delaunay edge, both directions, sorted by target
    assert graphs.edge_index.tolist() == [[1, 0], [0, 1]]
    rapidity = math.asinh(jet_pt * math.sinh(jet_eta) / math.hypot(jet_pt, jet_mass))
    u = [jet_e, jet_pt, jet_eta, rapidity, jet_mass, 2, track_p, 14 / 19, 3, 2]
    np.testing.assert_allclose(graphs.u, [u], rtol=1e-5, atol=1e-5)
    truth_e = math.hypot(20 * math.cosh(0.52), 2.0)
    truth_y = math.asinh(20 * math.sinh(0.52) / math.hypot(20, 2))
    columns = graphs.columns
    np.testing.assert_allclose(columns["true_energy"], [truth_e], rtol=1e-6)
    np.testing.assert_allclose(columns["true_rapidity"], [truth_y], rtol=1e-6)
    assert columns["event"].tolist() == [500]
    assert columns["truth_index"].tolist() == [0]
    # the event's jets by pT: this one (16.8 GeV), then D (11.9), then C (6.0)
    assert columns["index"].tolist() == [0]
    assert columns["match_dr"][0] == pytest.approx(math.hypot(jet_eta - 0.52, jet_phi - 1.27), 1e-5)


def test_phi_wrap_around(tmp_path: Path) -> None:
    """A jet across phi = +-pi: dphi from the axis is small on both sides and the three
    towers triangulate as one triangle."""
    hits = [ecal_hit(0, 179, 6.0), ecal_hit(0, 180, 6.0), ecal_hit(6, 180, 3.0)]
    truth = [{"pt": 15.0, "eta": 0.03, "phi": math.pi, "mass": 0.0}]
    events = _write(tmp_path / "e.root", [{"Hit": hits, "SmallJet": truth}])
    graphs = ConstituentGraphProducer()(events)
    assert graphs.num_graphs == 1 and len(graphs.x) == 3
    dphi = graphs.x[:, NODE_FEATURES.index("dphi")]
    assert np.abs(dphi).max() < 0.05
    assert dphi.min() < 0 < dphi.max()
    pairs = {tuple(sorted(edge)) for edge in graphs.edge_index.T.tolist()}
    assert pairs == {(0, 1), (0, 2), (1, 2)} and graphs.edge_index.shape == (2, 6)


def test_one_constituent_jet_has_no_edges(tmp_path: Path) -> None:
    """A tower in no jet (1 GeV: below min_pt) stays out of the graphs, also out of the
    last jet of the chunk."""
    truth = [{"pt": 15.0, "eta": 0.5, "phi": 1.27, "mass": 0.0}]
    hits = [ecal_hit(-60, 10, 1.0), ecal_hit(28, 72, 12.0)]
    events = _write(tmp_path / "e.root", [{"Hit": hits, "SmallJet": truth}])
    graphs = ConstituentGraphProducer()(events)
    assert graphs.num_graphs == 1 and graphs.x.shape[0] == 1
    assert graphs.x[0, NODE_FEATURES.index("energy")] == 12.0
    assert graphs.edge_index.shape == (2, 0)


def test_events_without_jets(tmp_path: Path) -> None:
    truth = [{"pt": 15.0, "eta": 0.5, "phi": 1.27, "mass": 0.0}]
    events = _write(tmp_path / "e.root", [{"Hit": [ecal_hit(-60, 10, 1.0)]}, {"SmallJet": truth}])
    graphs = ConstituentGraphProducer()(events)
    assert graphs.num_graphs == 0 and graphs.x.shape == (0, len(NODE_FEATURES))
    assert graphs.u.shape == (0, len(GRAPH_FEATURES)) and graphs.dropped == {
        "outside_eta": 0,
        "unmatched": 0,
    }


def test_needs_small_jets() -> None:
    events = ak.Array([{"event": 1, "hits": [], "tracks": []}])
    with pytest.raises(KeyError, match="'small_jets'"):
        ConstituentGraphProducer()(events)


def test_refuses_bad_options() -> None:
    with pytest.raises(ValueError, match="match_dr must be finite and > 0"):
        ConstituentGraphProducer(match_dr=-1.0)


def test_frames_file_round_trip(tmp_path: Path) -> None:
    """make_frames writes the graphs with u and the targets as per-graph columns, which
    read_graphs gives back by name."""
    _write(tmp_path / "in.root", [_event(), _event()])
    run = make_frames([tmp_path / "in.root"], tmp_path / "graphs.parquet", kind="constituents")
    assert run.produced == 2
    read = read_graphs(
        tmp_path / "graphs.parquet", feature_names=NODE_FEATURES, graph_feature_names=GRAPH_FEATURES
    )
    direct = ConstituentGraphProducer()(_write(tmp_path / "again.root", [_event(), _event()]))
    np.testing.assert_array_equal(read.graphs.x, direct.x)
    np.testing.assert_array_equal(read.graphs.u, direct.u)
    np.testing.assert_array_equal(read.graphs.edge_index, direct.edge_index)
    for name in (*TARGETS, "event", "index"):
        np.testing.assert_array_equal(read.columns[name], direct.columns[name])
