"""Small ROOT files in the e2e_gnn generator schema v1 layout, written by the io tests."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

NANOAOD = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / ("nanoAOD_2015_CMS_Open_Data_ttbar.root")
)


def jagged(values: list[list[float]], dtype: str) -> ak.Array:
    counts = np.array([len(v) for v in values], dtype=np.int64)
    flat = np.array([x for v in values for x in v], dtype=dtype)
    return ak.unflatten(flat, counts)


def write_contract(path: Path, *, with_truth: bool = True) -> Path:
    """Three events in the generator schema v1 layout; the values are easy to check by eye."""
    hits = {
        "eta": jagged([[0.1, 0.2], [], [0.3, -0.4, 0.5]], "f4"),
        "phi": jagged([[1.0, 1.1], [], [-3.0, 3.0, 0.0]], "f4"),
        "energy": jagged([[5.0, 2.5], [], [1.0, 0.5, 7.0]], "f4"),
        "subdet": jagged([[0, 1], [], [0, 0, 1]], "i4"),
        "layer": jagged([[0, 2], [], [1, 1, 0]], "i4"),
        "ieta": jagged([[5, 2], [], [17, -23, 5]], "i4"),
        "iphi": jagged([[237, 51], [], [8, 352, 36]], "i4"),
    }
    if with_truth:
        hits["truth_fraction"] = jagged([[0.5, -1.0], [], [1.0, 0.0, 0.25]], "f4")
    tracks = {
        k: jagged(v, "f4")
        for k, v in {
            "pt": [[10.0], [3.0, 4.0], []],
            "eta": [[0.1], [0.0, 1.0], []],
            "phi": [[1.0], [0.5, -0.5], []],
            "d0": [[0.01], [0.0, -0.02], []],
            "dz": [[0.1], [0.2, -0.3], []],
        }.items()
    }
    tracks["charge"] = jagged([[1], [-1, 1], []], "i4")
    pixels = {
        "eta": jagged([[0.1, 0.1], [], []], "f4"),
        "phi": jagged([[1.0, 1.0], [], []], "f4"),
        "layer": jagged([[0, 3], [], []], "i4"),
    }
    jets = {
        "pt": jagged([[50.0], [30.0, 20.0], []], "f4"),
        "eta": jagged([[0.15], [0.0, 1.0], []], "f4"),
        "phi": jagged([[1.05], [0.5, -0.5], []], "f4"),
        "mass": jagged([[5.0], [3.0, 2.0], []], "f4"),
        "label": jagged([[1], [0, -1], []], "i4"),
    }
    photons = {
        "pt": jagged([[], [], [25.0]], "f4"),
        "eta": jagged([[], [], [0.3]], "f4"),
        "phi": jagged([[], [], [-3.0]], "f4"),
        "label": jagged([[], [], [1]], "i4"),
    }
    with uproot.recreate(path) as f:
        f.mktree(
            "Events",
            {
                "event": np.array([100, 101, 102], dtype=np.int64),
                "task": np.array([0, 0, 3], dtype=np.int32),
                "Hit": ak.zip(hits),
                "Track": ak.zip(tracks),
                "PixelHit": ak.zip(pixels),
                "Jet": ak.zip(jets),
                "Photon": ak.zip(photons),
            },
        )
    return path
