"""Frames files carry the pt and eta of each frame's object (for `e2e-gnn train
--reweight pt,eta`), joined on event and index also when chunks split the events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _frames_events import hcal_centre, write_and_read

from e2e_gnn.frames.run import make_frames
from e2e_gnn.io import read_frames


@pytest.mark.parametrize("kind", ["jet", "layered"])
def test_frames_carry_their_jets_pt_and_eta(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(3)
    events, truth = [], {}
    for i in range(9):
        jets = []
        for j in range(1 + i % 3):  # several jets per event, each with hits under it
            eta, phi = hcal_centre(int(rng.integers(-8, 8)), int(rng.integers(0, 72)))
            pt = float(20 + 10 * i + j)
            jets.append({"pt": pt, "eta": eta, "phi": phi, "label": (i + j) % 2})
            truth[(1000 + i, j)] = (pt, eta)
        hits = [{"eta": jet["eta"], "phi": jet["phi"], "energy": 5.0, "subdet": 0} for jet in jets]
        events.append({"Jet": jets, "Hit": hits})
    write_and_read(tmp_path / "in.root", events)
    run = make_frames([tmp_path / "in.root"], tmp_path / "f.root", kind=kind, step_size=4)
    columns = read_frames(run.output).columns
    assert run.produced == len(truth)
    expected = [truth[(e, j)] for e, j in zip(columns["event"], columns["index"], strict=True)]
    np.testing.assert_allclose(columns["pt"], [pt for pt, _ in expected])
    np.testing.assert_allclose(columns["eta"], [eta for _, eta in expected], rtol=1e-6)
