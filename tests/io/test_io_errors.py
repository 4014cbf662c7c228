"""Every bad input gives a named error (file, tree, branch), never a silently empty result."""

from __future__ import annotations

import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from _io_files import jagged, write_contract

from e2e_gnn.io import (
    BranchTypeError,
    CorruptFileError,
    EmptyTreeError,
    InputFileError,
    MissingBranchError,
    MissingFileError,
    MissingTreeError,
    Schema,
    SchemaError,
    load_events,
    read_events,
)


def _one_field_schema(branch: str, dtype: str, *, jagged_field: bool = False) -> Schema:
    if jagged_field:
        return Schema.from_dict(
            {"name": "t", "collections": {"c": {"v": {"branch": branch, "dtype": dtype}}}}
        )
    return Schema.from_dict({"name": "t", "scalars": {"v": {"branch": branch, "dtype": dtype}}})


def test_missing_file_names_it_and_suggests_similar(tmp_path: Path) -> None:
    write_contract(tmp_path / "sample_qcd.root")
    with pytest.raises(MissingFileError, match=r"sample_qdc\.root.*does not exist") as err:
        load_events(tmp_path / "sample_qdc.root", "e2e_gnn")
    assert "sample_qcd.root" in str(err.value)  # the near-miss is suggested
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(MissingFileError, match="is a directory"):
        load_events(tmp_path, "e2e_gnn")


def test_missing_tree_lists_closest(tmp_path: Path) -> None:
    path = write_contract(tmp_path / "gen.root")
    with pytest.raises(MissingTreeError, match=r"no TTree 'events'.*closest: \['Events'\]") as err:
        load_events(path, "e2e_gnn", tree="events")
    assert err.value.file_path == str(path)
    assert isinstance(err.value, KeyError)


def test_rntuple_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "rntuple.root"
    with uproot.recreate(path) as f:
        f["Events"] = {"event": np.arange(3, dtype=np.int64)}  # uproot >= 5.7: an RNTuple
    with pytest.raises(MissingTreeError, match=r"RNTuple.*mktree"):
        load_events(path, _one_field_schema("event", "int64"))


def test_missing_branches_are_all_listed_with_closest_names(tmp_path: Path) -> None:
    path = write_contract(tmp_path / "gen.root")
    schema = Schema.from_dict(
        {
            "name": "typos",
            "scalars": {"event": {"branch": "evnt", "dtype": "int64"}},
            "collections": {
                "hits": {
                    "energy": {"branch": "Hit_enrgy", "dtype": "float32"},
                    "time": {"branch": "Hit_time", "dtype": "float32", "optional": True},
                }
            },
        }
    )
    with pytest.raises(MissingBranchError) as err:
        load_events(path, schema)
    msg = str(err.value)
    assert "'evnt' for field 'event' (closest: ['event'])" in msg
    assert "'Hit_enrgy' for field 'hits.energy' (closest: ['Hit_energy'," in msg
    assert "Hit_time" not in msg  # optional: absent is fine
    assert str(path) in msg
    assert err.value.branches == ["evnt", "Hit_enrgy"]


def test_wrong_types_name_the_branch(tmp_path: Path) -> None:
    path = write_contract(tmp_path / "gen.root")
    # float data declared as an integer field: would silently truncate
    with pytest.raises(BranchTypeError, match=r"branch 'Hit_energy'.*expected a jagged list"):
        load_events(path, _one_field_schema("Hit_energy", "int32", jagged_field=True))
    # a jagged branch mapped to a per-event scalar
    with pytest.raises(BranchTypeError, match=r"branch 'Jet_pt'.*expected one value per event"):
        load_events(path, _one_field_schema("Jet_pt", "float32"))
    # a scalar branch mapped to a collection field
    with pytest.raises(BranchTypeError, match=r"branch 'event'.*'int64_t'"):
        load_events(path, _one_field_schema("event", "int64", jagged_field=True))


def test_fixed_size_array_branch_is_a_type_error(tmp_path: Path) -> None:
    path = tmp_path / "fixed.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {"v": np.zeros((2, 3), dtype=np.float32)})
    with pytest.raises(BranchTypeError, match=r"branch 'v'.*float\[3\]"):
        load_events(path, _one_field_schema("v", "float32"))


def test_empty_tree_and_empty_range(tmp_path: Path) -> None:
    path = tmp_path / "empty.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {"event": np.int64})
    with pytest.raises(EmptyTreeError, match=r"TTree 'Events' in .*empty\.root.* no entries"):
        load_events(path, _one_field_schema("event", "int64"))
    full = write_contract(tmp_path / "gen.root")
    with pytest.raises(EmptyTreeError, match=r"selects no events; the tree has 3 entries"):
        load_events(full, "e2e_gnn", entry_start=5)


@pytest.mark.parametrize("keep", [0.01, 0.5, 0.95])
def test_truncated_file(tmp_path: Path, keep: float) -> None:
    full = write_contract(tmp_path / "gen.root").read_bytes()
    path = tmp_path / "cut.root"
    path.write_bytes(full[: int(len(full) * keep)])
    with pytest.raises(CorruptFileError, match=r"cut\.root") as err:
        load_events(path, "e2e_gnn")
    assert isinstance(err.value, OSError)


def test_not_a_root_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.root"
    path.write_text("these are not the events you are looking for\n")
    with pytest.raises(CorruptFileError, match=r"cannot open '.*notes\.root' as a ROOT file"):
        load_events(path, "e2e_gnn")


def test_corrupt_basket_found_while_iterating(tmp_path: Path) -> None:
    path = tmp_path / "big.root"
    rng = np.random.default_rng(0)
    with uproot.recreate(path) as f:
        f.mktree("Events", {"x": np.float32})
        for _ in range(3):  # three baskets of zlib-compressed random floats
            f["Events"].extend({"x": rng.random(20_000).astype(np.float32)})
    seeks = uproot.open(path)["Events"]["x"].member("fBasketSeek")
    data = bytearray(path.read_bytes())
    second = int(seeks[1])
    data[second + 200 : second + 400] = bytes(b ^ 0xFF for b in data[second + 200 : second + 400])
    bad = tmp_path / "bad.root"
    bad.write_bytes(bytes(data))
    chunks = read_events(bad, _one_field_schema("x", "float32"), step_size=20_000)
    assert len(next(chunks)) == 20_000  # the intact first basket still reads
    with pytest.raises(CorruptFileError, match=r"bad\.root' after entry 20000 .*\['x'\]"):
        next(chunks)


def test_collection_fields_with_different_counters(tmp_path: Path) -> None:
    path = tmp_path / "mixed.root"
    with uproot.recreate(path) as f:
        f.mktree(
            "Events",
            {
                "A": ak.zip({"x": jagged([[1.0], [2.0, 3.0]], "f4")}),
                "B": ak.zip({"y": jagged([[1.0], [2.0]], "f4")}),
            },
        )
    schema = Schema.from_dict(
        {
            "name": "mixed",
            "collections": {
                "c": {
                    "x": {"branch": "A_x", "dtype": "float32"},
                    "y": {"branch": "B_y", "dtype": "float32"},
                }
            },
        }
    )
    with pytest.raises(SchemaError, match=r"'A_x' and 'B_y' have different lengths in entry 1"):
        load_events(path, schema)


def test_all_errors_share_a_base_class(tmp_path: Path) -> None:
    with pytest.raises(InputFileError):
        load_events(tmp_path / "nothing.root", "e2e_gnn")


def test_bad_schemas(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"dtype 'float16'; use one of"):
        Schema.from_dict({"name": "s", "scalars": {"v": {"branch": "v", "dtype": "float16"}}})
    with pytest.raises(SchemaError, match=r"field 'v' must be a table like"):
        Schema.from_dict({"name": "s", "scalars": {"v": "v"}})
    with pytest.raises(SchemaError, match=r"unknown top-level key\(s\) \['colections'\]"):
        Schema.from_dict({"name": "s", "colections": {}})
    with pytest.raises(SchemaError, match=r"neither scalars nor collections"):
        Schema.from_dict({"name": "s"})
    with pytest.raises(SchemaError, match=r"unknown schema 'nanoAODv9'.*\['e2e_gnn', 'nanoaod'\]"):
        load_events(tmp_path / "x.root", "nanoAODv9")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = 'x'\n[scalars\n")
    with pytest.raises(SchemaError, match=r"broken\.toml' is not valid TOML"):
        Schema.from_toml(broken)


def test_user_schema_file_maps_a_new_format(tmp_path: Path) -> None:
    """A user renames branches with a TOML file only: no code."""
    src = write_contract(tmp_path / "gen.root")
    shutil.copy(src, tmp_path / "copy.root")
    toml = tmp_path / "mine.toml"
    toml.write_text(
        'name = "mine"\n[scalars]\nevt = { branch = "event", dtype = "float64" }\n'
        '[collections.cells]\ne = { branch = "Hit_energy", dtype = "float64" }\n'
    )
    ev = load_events(tmp_path / "copy.root", toml)
    assert ev.fields == ["entry", "evt", "cells"]
    assert ev.evt.tolist() == [100.0, 101.0, 102.0]
    assert ak.sum(ev.cells.e) == pytest.approx(16.0)
