"""read_events on the real CMS NanoAOD file and on contract-layout files written here."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import pytest
import uproot
from _io_files import NANOAOD, write_contract

from e2e_gnn.io import Schema, load_events, load_schema, read_events

needs_nanoaod = pytest.mark.skipif(
    not NANOAOD.is_file(),
    reason=f"real CMS Open Data NanoAOD file not found at {NANOAOD} (it lives in the "
    "shared data directory next to the repository; see ../shared/data/README.md)",
)


def test_contract_file_maps_every_branch_to_our_fields(tmp_path: Path) -> None:
    ev = load_events(write_contract(tmp_path / "gen.root"), "e2e_gnn")
    assert len(ev) == 3
    assert set(ev.fields) == {
        "entry",
        "event",
        "task",
        "hits",
        "tracks",
        "pixel_hits",
        "jets",
        "photons",
    }
    assert ev.event.tolist() == [100, 101, 102]
    assert ev.hits.energy.tolist() == [[5.0, 2.5], [], [1.0, 0.5, 7.0]]
    assert ev.hits.truth_fraction.tolist() == [[0.5, -1.0], [], [1.0, 0.0, 0.25]]
    assert ev.tracks.charge.tolist() == [[1], [-1, 1], []]
    assert ev.jets.label.tolist() == [[1], [0, -1], []]
    assert ev.photons.phi.tolist() == [[], [], [-3.0]]
    assert str(ak.type(ev.hits.subdet)).endswith("int32")
    assert str(ak.type(ev.event)).endswith("int64")


def test_optional_field_absent_is_left_out_not_an_error(tmp_path: Path) -> None:
    ev = load_events(write_contract(tmp_path / "gen.root", with_truth=False), "e2e_gnn")
    assert "truth_fraction" not in ev.hits.fields
    assert ak.num(ev.hits).tolist() == [2, 0, 3]
    assert ak.flatten(ev.hits.eta).tolist() == pytest.approx([0.1, 0.2, 0.3, -0.4, 0.5], abs=1e-7)


def test_all_optional_absent_collection_is_left_out(tmp_path: Path) -> None:
    schema = load_schema("e2e_gnn")
    data = {
        "name": "with_extra",
        "scalars": {"event": {"branch": "event", "dtype": "int64"}},
        "collections": {
            "jets": {"pt": {"branch": "Jet_pt", "dtype": "float32"}},
            "taus": {"pt": {"branch": "Tau_pt", "dtype": "float32", "optional": True}},
        },
    }
    ev = load_events(write_contract(tmp_path / "gen.root"), Schema.from_dict(data))
    assert ev.fields == ["entry", "event", "jets"]
    assert schema.collection("jets").field("label").optional


def test_collections_subset_reads_only_those(tmp_path: Path) -> None:
    path = write_contract(tmp_path / "gen.root")
    ev = load_events(path, "e2e_gnn", collections=["jets"], scalars=["event"])
    assert ev.fields == ["entry", "event", "jets"]


def test_step_size_chunks_cover_every_event_once(tmp_path: Path) -> None:
    path = write_contract(tmp_path / "gen.root")
    chunks = list(read_events(path, "e2e_gnn", step_size=2))
    assert [len(c) for c in chunks] == [2, 1]
    assert ak.concatenate(chunks).event.tolist() == [100, 101, 102]
    ranged = load_events([path, path], "e2e_gnn", entry_start=1, entry_stop=3)
    assert ranged.event.tolist() == [101, 102, 101, 102]


@needs_nanoaod
def test_nanoaod_schema_reads_real_cms_file() -> None:
    ev = load_events(NANOAOD, "nanoaod")
    tree = uproot.open(NANOAOD)["Events"]
    assert len(ev) == tree.num_entries == 200
    # independent check: the same branches read directly with uproot
    raw = tree.arrays(["nJet", "Jet_pt", "Muon_eta", "SV_mass", "event"], library="ak")
    assert ak.num(ev.jets).tolist() == raw.nJet.tolist()
    assert ak.all(ev.jets.pt == raw.Jet_pt)
    assert ak.all(ev.muons.eta == raw.Muon_eta)
    assert ak.all(ev.svs.mass == raw.SV_mass)
    assert ev.event.tolist() == raw.event.tolist()
    assert str(ak.type(ev.event)).endswith("int64")  # uint64 in the file, cast per schema
    assert set(load_schema("nanoaod").collection("taus").field("charge").branch.split("_")) == {
        "Tau",
        "charge",
    }


@needs_nanoaod
def test_nanoaod_chunks_match_single_read() -> None:
    chunks = list(read_events(NANOAOD, "nanoaod", step_size=64, collections=["jets", "taus"]))
    assert [len(c) for c in chunks] == [64, 64, 64, 8]
    whole = load_events(NANOAOD, "nanoaod", collections=["jets", "taus"])
    joined = ak.concatenate(chunks)
    assert ak.all(ak.flatten(joined.taus.pt) == ak.flatten(whole.taus.pt))
    assert ak.sum(ak.num(joined.jets)) == ak.sum(ak.num(whole.jets)) > 0
