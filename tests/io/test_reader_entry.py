"""Every event read carries ``entry``, its entry number in its file, whatever the chunking."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from _io_files import write_contract

from e2e_gnn.io import Schema, SchemaError, load_events, read_events


def _no_event_branch(path: Path, n: int) -> Path:
    with uproot.recreate(path) as f:
        f.mktree(
            "Events",
            {
                "Jet": ak.zip(
                    {"pt": ak.unflatten(np.arange(n, dtype="f4"), np.ones(n, dtype=np.int64))}
                )
            },
        )
    return path


def test_entry_is_the_file_entry_in_every_chunk(tmp_path: Path) -> None:
    path = _no_event_branch(tmp_path / "plain.root", 11)
    schema = {
        "name": "plain",
        "collections": {"jets": {"pt": {"branch": "Jet_pt", "dtype": "float32"}}},
    }
    chunks = list(read_events(path, Schema.from_dict(schema), step_size=4))
    assert [len(c) for c in chunks] == [4, 4, 3]
    assert [c.entry.tolist() for c in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    # entry and the values travel together: Jet_pt was written as the entry number
    assert ak.flatten(ak.concatenate(chunks).jets.pt).tolist() == list(range(11))
    ranged = list(read_events(path, Schema.from_dict(schema), step_size=2, entry_start=5))
    assert ak.concatenate(ranged).entry.tolist() == [5, 6, 7, 8, 9, 10]
    assert str(ak.type(chunks[0].entry)).endswith("int64")


def test_entry_restarts_with_each_file(tmp_path: Path) -> None:
    path = write_contract(tmp_path / "gen.root")
    ev = load_events([path, path], "e2e_gnn", step_size=2)
    assert ev.entry.tolist() == [0, 1, 2, 0, 1, 2]
    assert ev.event.tolist() == [100, 101, 102] * 2


def test_entry_is_reserved() -> None:
    data = {"name": "x", "scalars": {"entry": {"branch": "evt", "dtype": "int64"}}}
    with pytest.raises(SchemaError, match=r"'entry' is reserved"):
        Schema.from_dict(data)
