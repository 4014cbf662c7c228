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
    # daughter links and vertices survive the reordering
    has = merged.daughter1 >= 0
    assert np.all(merged.event[merged.daughter1[has]] == merged.event[has])
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
