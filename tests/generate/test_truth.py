"""Flattened Pythia records, their interleaving, jet labelling and Collection."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from e2e_gnn.generate.collection import Collection
from e2e_gnn.generate.jets import label_jets

pythia8mc = pytest.importorskip("pythia8mc")

from e2e_gnn.generate.truth import PdgLookup, Record  # noqa: E402


@pytest.fixture(scope="module")
def batches() -> tuple[ak.Array, ak.Array]:
    pythia = pythia8mc.Pythia("", False)
    for line in (
        "Beams:eCM = 13600",
        "HardQCD:all = on",
        "PhaseSpace:pTHatMin = 50",
        "PartonLevel:MPI = off",
        "Print:quiet = on",
        "Random:setSeed = on",
        "Random:seed = 3",
    ):
        pythia.readString(line)
    pythia.init()
    return pythia.nextBatch(3), pythia.nextBatch(2)


def test_record_matches_the_awkward_batch(batches) -> None:
    batch = batches[0]
    record = Record.from_batch(batch)
    prt = batch.prt
    assert record.n_events == 3
    assert record.id.tolist() == ak.flatten(prt.id).tolist()
    np.testing.assert_array_equal(record.px, ak.to_numpy(ak.flatten(prt.p.px)))
    # daughters are global indices with the same ids as the batch's local ones
    first_daughter = ak.flatten(prt.id[ak.where(prt.daughter1 > 0, prt.daughter1, 0)])
    has = ak.to_numpy(ak.flatten(prt.daughter1 > 0))
    np.testing.assert_array_equal(
        record.id[record.daughter1[has]], ak.to_numpy(first_daughter)[has]
    )
    first_mother = ak.flatten(prt.id[ak.where(prt.mother1 > 0, prt.mother1, 0)])
    has = ak.to_numpy(ak.flatten(prt.mother1 > 0))
    np.testing.assert_array_equal(record.id[record.mother1[has]], ak.to_numpy(first_mother)[has])
    vertex = ak.flatten(prt.vProd)
    expected = ak.to_numpy(ak.fill_none(vertex.pz, 0.0))
    np.testing.assert_array_equal(record.vertex(np.arange(record.id.size))[:, 2], expected)
    assert (record.vertex_index >= 0).any()


def test_interleave_puts_events_at_their_positions(batches) -> None:
    first, second = (Record.from_batch(b) for b in batches)
    merged = Record.interleave([first, second], [np.array([0, 2, 4]), np.array([1, 3])])
    assert merged.n_events == 5
    for target, (source, event) in enumerate(
        [(first, 0), (second, 0), (first, 1), (second, 1), (first, 2)]
    ):
        np.testing.assert_array_equal(
            merged.id[merged.event == target], source.id[source.event == event]
        )
        np.testing.assert_array_equal(
            merged.e[merged.event == target], source.e[source.event == event]
        )
    # daughter and mother links and vertices survive the reordering
    has = merged.daughter1 >= 0
    assert np.all(merged.event[merged.daughter1[has]] == merged.event[has])
    has = merged.mother1 >= 0
    assert np.all(merged.event[merged.mother1[has]] == merged.event[has])
    for source, positions in ((first, [0, 2, 4]), (second, [1, 3])):
        linked = source.mother1 >= 0
        for event, target in enumerate(positions):
            mine = linked & (source.event == event)
            theirs = (merged.mother1 >= 0) & (merged.event == target)
            np.testing.assert_array_equal(
                source.id[source.mother1[mine]], merged.id[merged.mother1[theirs]]
            )
    all_first = first.vertex(np.arange(first.id.size))
    assert np.isin(all_first[:, 0], merged.vertex(np.arange(merged.id.size))[:, 0]).all()


def test_label_jets_takes_the_closest_object_within_delta_r() -> None:
    jets = Collection(
        {"eta": np.array([0.0, 1.0, 0.0, 2.0]), "phi": np.array([0.0, 3.1, 0.0, 0.0])},
        np.array([2, 0, 2]),
    )
    truth = Collection(
        {
            "eta": np.array([0.1, 0.3, 1.0, 0.0]),
            "phi": np.array([0.0, 0.0, -3.1, 1.0]),
            "label": np.array([1, 0, 0, 1]),
        },
        np.array([3, 0, 1]),
    )
    # jet 0: closest is object 0 (dR 0.1); jet 1: object 2 across the phi wrap (dR 0.083);
    # jet 2: object 3 is 1.0 away -> -1; jet 3: -1
    assert label_jets(jets, truth).tolist() == [1, 0, -1, -1]


def test_collection_round_trip_and_errors() -> None:
    coll = Collection({"a": np.arange(5.0), "b": np.arange(5)}, np.array([2, 0, 3]))
    array = coll.to_awkward()
    assert array.a.tolist() == [[0.0, 1.0], [], [2.0, 3.0, 4.0]]
    back = Collection.from_awkward(array)
    np.testing.assert_array_equal(back["b"], coll["b"])
    np.testing.assert_array_equal(back.counts, coll.counts)
    both = Collection.concatenate([coll, coll])
    assert both.n_events == 6 and both.event.tolist() == [0, 0, 2, 2, 2, 3, 3, 5, 5, 5]
    with pytest.raises(ValueError, match="column 'a' has 4 entries, counts add up to 5"):
        Collection({"a": np.arange(4.0)}, np.array([2, 3]))


def test_pdg_lookup_calls_the_function_once_per_id() -> None:
    calls: list[int] = []

    def charge(pdg: int) -> float:
        calls.append(pdg)
        return float(np.sign(pdg) * (abs(pdg) % 3))

    lookup = PdgLookup(charge, span=100)
    ids = np.array([211, -211, 22, 22, 5, -5, 99, -100, 150, -150, 150], dtype=np.int32)
    expected = [float(np.sign(i) * (abs(i) % 3)) for i in ids.tolist()]
    np.testing.assert_array_equal(lookup(ids), expected)
    np.testing.assert_array_equal(lookup(ids[::-1]), expected[::-1])
    assert sorted(calls) == sorted(set(ids.tolist()))
    assert lookup(np.zeros(0, dtype=np.int32)).size == 0


def test_vertex_rows_are_the_vertex_columns(batches) -> None:
    record = Record.from_batch(batches[0])
    index = np.arange(0, record.id.size, 3)
    rows = record.vertex_rows(index)
    assert rows.shape == (3, index.size) and rows[0].flags.c_contiguous
    np.testing.assert_array_equal(rows.T, record.vertex(index))


def test_collection_from_awkward_reads_sliced_and_indexed_lists() -> None:
    coll = Collection({"a": np.arange(6.0), "b": np.arange(6)}, np.array([2, 0, 3, 1]))
    array = coll.to_awkward()
    for view in (array[1:], array[[3, 0, 2]], array[np.array([True, False, True, True])]):
        got = Collection.from_awkward(view, ("a", "b"))
        np.testing.assert_array_equal(got.counts, ak.to_numpy(ak.num(view)))
        np.testing.assert_array_equal(got["a"], ak.to_numpy(ak.flatten(view.a)))
        np.testing.assert_array_equal(got["b"], ak.to_numpy(ak.flatten(view.b)))


def test_displaced_photons_start_at_the_decay_vertex_of_the_long_lived_scalar() -> None:
    """The signal photons are the scalar's daughters, produced where it decayed: after
    its proper time tau (Pythia's ``tau``, mm) at L_xy = tau pT / m from the beam, read
    here from the awkward batch itself."""
    from e2e_gnn.generate.tasks import ALP_ID, displaced_photon_task
    from e2e_gnn.generate.truth import displaced_photons

    pythia = pythia8mc.Pythia("", False)
    task = displaced_photon_task(mass_gev=20.0, ctau_mm=300.0)
    for line in (*task.signal, "Beams:eCM = 13600", "PartonLevel:MPI = off", "Print:quiet = on"):
        assert pythia.readString(line), line
    assert pythia.init()
    batch = pythia.nextBatch(10)
    photons = displaced_photons(Record.from_batch(batch), ALP_ID)
    prt = batch.prt
    alp = prt[prt.id == ALP_ID]
    pt = np.hypot(ak.to_numpy(ak.flatten(alp.p.px)), ak.to_numpy(ak.flatten(alp.p.py)))
    expected = ak.to_numpy(ak.flatten(alp.tau)) * pt / 20.0 / 10.0  # mm -> cm
    signal = photons["label"] == 1
    assert signal.sum() >= 5
    # each signal photon's L_xy is that of one of its event's two scalars
    for lxy, event in zip(photons["lxy"][signal], photons.event[signal], strict=True):
        own = expected[2 * event : 2 * event + 2]
        assert np.min(np.abs(own - lxy)) < 1e-6 * max(lxy, 1.0), (lxy, own)
    np.testing.assert_allclose(photons["lxy"], np.hypot(photons["vx"], photons["vy"]))
    assert np.ptp(photons["lxy"][signal]) > 10.0
    assert np.all(photons["pt"] > 20.0) and np.all(np.abs(photons["eta"]) < 1.479)


def test_match_jets_gives_the_index_of_the_closest_truth_object() -> None:
    from e2e_gnn.generate.jets import match_jets, matched_values

    jets = Collection(
        {"eta": np.array([0.0, 0.5, 2.0]), "phi": np.array([0.0, 0.0, 0.0])}, np.array([2, 1])
    )
    truth = Collection(
        {"eta": np.array([0.45, 0.05, 2.5]), "phi": np.zeros(3), "lxy": np.array([7.0, 3.0, 1.0])},
        np.array([2, 1]),
    )
    index = match_jets(jets, truth)
    assert index.tolist() == [1, 0, -1]
    assert matched_values(index, truth["lxy"], -1.0).tolist() == [3.0, 7.0, -1.0]


def test_particles_decaying_outside_the_decay_volume_stand_for_their_products() -> None:
    """Hard jets carry K0S, Lambdas, ... that Pythia decays metres away: those that decay
    outside the volume (r >= 129 cm or |z| >= 300 cm) are kept instead of their
    products, with the products' total momentum; nothing visible starts outside it."""
    from e2e_gnn.generate.truth import final_particles

    pythia = pythia8mc.Pythia("", False)
    for line in (
        "Beams:eCM = 13600",
        "HardQCD:all = on",
        "PhaseSpace:pTHatMin = 500",
        "PartonLevel:MPI = off",
        "Print:quiet = on",
        "Random:setSeed = on",
        "Random:seed = 4",
    ):
        assert pythia.readString(line), line
    assert pythia.init()
    record = Record.from_batch(pythia.nextBatch(20))
    particles = final_particles(record, lambda pdg: float(pythia.particleData.charge(pdg)))
    inside = (np.hypot(particles["vx"], particles["vy"]) < 129.0) & (
        np.abs(particles["vz"]) < 300.0
    )
    assert inside.all()
    decayed = np.isin(np.abs(particles["pdg"]), (310, 3122, 3112, 3222, 3312, 3334))
    assert decayed.sum() >= 3
    # momentum per event: what Pythia left in the final state, neutrinos made inside aside
    final = np.flatnonzero(record.status > 0)
    vx, vy, vz = record.vertex_rows(final) / 10.0
    neutrino = np.isin(np.abs(record.id[final]), (12, 14, 16))
    lost = neutrino & (np.hypot(vx, vy) < 129.0) & (np.abs(vz) < 300.0)
    want = np.bincount(record.event[final[~lost]], record.px[final[~lost]], minlength=20)
    got = np.bincount(particles.event, particles["px"], minlength=20)
    np.testing.assert_allclose(got, want, atol=1e-6 * np.abs(want).max())
