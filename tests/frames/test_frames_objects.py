"""ObjectGraphProducer on the real CMS NanoAOD file; knn_eta_phi against a brute force."""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from _frames_events import NANOAOD, NANOAOD_MISSING, write_and_read

from e2e_gnn.frames import OBJECT_TYPES, ObjectGraphProducer, knn_eta_phi
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.io import load_events

needs_nanoaod = pytest.mark.skipif(not NANOAOD.is_file(), reason=NANOAOD_MISSING)
NANO_PREFIX = {
    "jets": "Jet",
    "muons": "Muon",
    "electrons": "Electron",
    "photons": "Photon",
    "taus": "Tau",
    "svs": "SV",
}


def _native_available() -> bool:
    try:
        from e2e_gnn._native_loader import load_native

        load_native()
    except ImportError:
        return False
    return True


def _brute_knn(eta: list[float], phi: list[float], k: int) -> list[tuple[int, int]]:
    """(source, target) pairs by plain Python: sort every other node by distance, then index."""
    edges = []
    for i in range(len(eta)):

        def dist(j: int, i: int = i) -> float:
            dphi = (phi[j] - phi[i] + math.pi) % (2 * math.pi) - math.pi
            return (eta[j] - eta[i]) ** 2 + dphi**2

        others = sorted((j for j in range(len(eta)) if j != i), key=lambda j: (dist(j), j))
        edges += [(j, i) for j in others[:k]]
    return edges


@needs_nanoaod
def test_object_graphs_on_real_nanoaod() -> None:
    events = load_events(NANOAOD, "nanoaod")
    g = ObjectGraphProducer(k=4)(events)
    raw = uproot.open(NANOAOD)["Events"].arrays(
        [f"n{p}" for p in NANO_PREFIX.values()] + [f"{p}_pt" for p in NANO_PREFIX.values()]
    )
    all_events = sum(ak.to_numpy(raw[f"n{p}"]).astype(np.int64) for p in NANO_PREFIX.values())
    empty = all_events == 0
    assert 0 < empty.sum() < 200  # the file has events without any object
    per_event = all_events[~empty]
    assert g.num_graphs == 200 - empty.sum()
    assert g.dropped == {"no_objects": int(empty.sum())}
    assert g.event.tolist() == ak.to_numpy(events.event)[~empty].tolist()
    assert g.x.dtype == np.float32 and g.edge_index.dtype == np.int64 and g.batch.dtype == np.int64
    assert g.x.shape == (int(per_event.sum()), 4 + len(OBJECT_TYPES))
    np.testing.assert_array_equal(np.bincount(g.batch, minlength=g.num_graphs), per_event)
    assert np.all(np.diff(g.batch) >= 0)
    # one-hot: exactly one type per node, and type counts match the file's counters
    onehot = g.x[:, 4:]
    assert np.all(onehot.sum(axis=1) == 1.0)
    for t, name in enumerate(OBJECT_TYPES):
        assert int(onehot[:, t].sum()) == int(ak.sum(raw[f"n{NANO_PREFIX[name]}"]))
    # node order within an event: type order, then file order; pT straight from the branches
    first_event = int(np.flatnonzero(~empty)[0])
    first = ak.concatenate(
        [raw[f"{p}_pt"][first_event : first_event + 1] for p in NANO_PREFIX.values()], axis=1
    )
    n0 = int(per_event[0])
    np.testing.assert_array_equal(g.x[:n0, 0], ak.to_numpy(first[0]))
    # edges stay inside their graph; in-degree is min(k, n - 1)
    src, dst = g.edge_index
    assert np.all(g.batch[src] == g.batch[dst])
    indeg = np.bincount(dst, minlength=len(g.x))
    np.testing.assert_array_equal(indeg, np.minimum(4, per_event[g.batch] - 1))
    # the GraphBatch contract holds (checked by the C++ library when it is built)
    batch = GraphBatch(g.x, g.edge_index, g.batch, g.num_graphs)
    rebuilt = GraphBatch.from_graphs(g.graphs())
    np.testing.assert_array_equal(rebuilt.edge_index, g.edge_index)
    np.testing.assert_array_equal(rebuilt.batch, g.batch)
    if _native_available():
        batch.validate(num_features=10)
    # against a brute force on the first 25 events
    for ev, (x, ei) in enumerate(g.graphs()[:25]):
        expected = _brute_knn(x[:, 1].tolist(), x[:, 2].tolist(), 4)
        edges = list(zip(ei[0].tolist(), ei[1].tolist(), strict=True))
        assert sorted(edges, key=lambda e: (e[1], e[0])) == sorted(
            expected, key=lambda e: (e[1], e[0])
        ), ev


def test_knn_wraps_phi_and_breaks_ties_by_index() -> None:
    eta = np.array([0.0, 0.0, 0.0, 0.0, 5.0])
    phi = np.array([3.1, -3.1, 0.0, 1.0, 0.0])
    batch = np.array([0, 0, 0, 0, 1])
    ei = knn_eta_phi(eta, phi, batch, 2, k=1, loop=False)
    # node 0's nearest is node 1 across the phi = pi seam (0.083 apart), not node 3 (2.1)
    assert ei.T.tolist() == [[1, 0], [0, 1], [3, 2], [2, 3]]  # node 4 alone: no edge
    # ties: nodes 1 and 2 are both 1.0 from node 0; the lower index wins
    tie = knn_eta_phi(np.array([0.0, 1.0, -1.0]), np.zeros(3), np.zeros(3, int), 1, 1, False)
    assert tie[:, 0].tolist() == [1, 0]
    with_loop = knn_eta_phi(eta, phi, batch, 2, k=2, loop=True)
    assert with_loop.T.tolist()[:2] == [[0, 0], [1, 0]]  # itself first (distance 0)
    assert knn_eta_phi(eta[:0], phi[:0], batch[:0], 3, k=4, loop=False).shape == (2, 0)
    with pytest.raises(ValueError, match="k = 0 must be at least 1"):
        knn_eta_phi(eta, phi, batch, 2, k=0, loop=False)


def test_object_graphs_on_generator_files_and_empty_events(tmp_path: Path) -> None:
    events = write_and_read(
        tmp_path / "e.root",
        [
            {
                "Jet": [{"pt": 40.0, "eta": 0.1, "phi": 0.2, "mass": 4.0}],
                "Photon": [{"pt": 30.0, "eta": -0.5, "phi": 2.0}],
            },
            {},  # no objects: no graph, counted
        ],
    )
    g = ObjectGraphProducer(k=3)(events)  # default: every object type the events carry
    assert g.num_graphs == len(g) == 1
    assert g.dropped == {"no_objects": 1}
    assert g.x.tolist() == [
        [40.0, pytest.approx(0.1), pytest.approx(0.2), 4.0, 1, 0, 0, 0, 0, 0],
        [30.0, -0.5, 2.0, 0.0, 0, 0, 0, 1, 0, 0],  # photons carry no mass: 0
    ]
    assert g.edge_index.T.tolist() == [[1, 0], [0, 1]]
    assert g.event.tolist() == [1000]
    only_jets = ObjectGraphProducer(collections=("jets",))(events)
    assert only_jets.x.shape == (1, 10)
    with pytest.raises(ValueError, match=r"unknown or no collections \['jets', 'pfcands'\]"):
        ObjectGraphProducer(collections=("jets", "pfcands"))(events)
    with pytest.raises(KeyError, match="none of the object collections"):
        ObjectGraphProducer()(events[["event", "hits"]])
