"""Without an ``event`` branch, frames are numbered by the entry in the file: ids stay unique
when the file is read in several chunks (they used to restart at 0 in every chunk)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _frames_events import ecal_hit, hcal_centre, hcal_hit, write_and_read

from e2e_gnn.frames import EGFrameProducer, JetFrameProducer, LayeredCaloProducer
from e2e_gnn.frames.run import make_frames
from e2e_gnn.io import load_schema, read_columns, read_events

N_EVENTS = 10


def _no_event_number(path: Path) -> Path:
    """One jet and one photon per event, except entry 3 (no objects), all in the barrel."""
    events = []
    for i in range(N_EVENTS):
        eta, phi = hcal_centre(i - 5, 7 * i)
        hits = [ecal_hit(5 * (i - 5) + 2, 35 * i + 2, 4.0), hcal_hit(i - 5, 7 * i, 3.0)]
        objects = {"pt": 40.0, "eta": eta, "phi": phi}
        events.append({"Jet": [objects], "Photon": [objects], "Hit": hits} if i != 3 else {})
    write_and_read(path, events, with_event=False)
    return path


def test_make_frames_numbers_frames_by_file_entry_across_chunks(tmp_path: Path) -> None:
    src = _no_event_number(tmp_path / "plain.root")
    schema = load_schema("e2e_gnn").select(scalars=["task"])
    run = make_frames([src], tmp_path / "f.root", kind="jet", schema=schema, step_size=3)
    want = [i for i in range(N_EVENTS) if i != 3]
    assert read_columns(run.output)["event"].tolist() == want


def test_every_dense_producer_uses_the_file_entry(tmp_path: Path) -> None:
    src = _no_event_number(tmp_path / "plain.root")
    schema = load_schema("e2e_gnn").select(scalars=["task"])
    want = [i for i in range(N_EVENTS) if i != 3]
    for producer in (
        JetFrameProducer(channels=("ECAL",)),
        EGFrameProducer(),
        LayeredCaloProducer(),
    ):
        chunks = read_events(src, schema, step_size=4)
        ids = np.concatenate([producer(c).event for c in chunks])
        assert ids.tolist() == want, type(producer).__name__


def test_events_without_event_or_entry_are_refused(tmp_path: Path) -> None:
    src = _no_event_number(tmp_path / "plain.root")
    (chunk,) = read_events(src, load_schema("e2e_gnn").select(scalars=["task"]))
    with pytest.raises(KeyError, match=r"carry neither 'event' nor 'entry' to number the frames"):
        JetFrameProducer(channels=("ECAL",))(chunk[["jets", "hits"]])
