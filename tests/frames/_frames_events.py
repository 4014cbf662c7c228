"""Write hand-made events to a ROOT file in the generator schema v1 layout and read them back.

Cell positions are given as crystal/tower indices and converted to their centres with the
contract's numbers written out here (not imported from the package), so the frame tests
check the producers against an independent statement of the geometry.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from e2e_gnn.io import load_events, load_schema

NANOAOD = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / ("nanoAOD_2015_CMS_Open_Data_ttbar.root")
)
NANOAOD_MISSING = (
    f"real CMS Open Data NanoAOD file not found at {NANOAOD} (it lives in the shared data "
    "directory next to the repository; see ../shared/data/README.md)"
)
DETA = 0.0174  # ECAL crystal
DPHI = 2 * math.pi / 360
FIELDS = {
    "Hit": {
        "eta": "f4",
        "phi": "f4",
        "energy": "f4",
        "subdet": "i4",
        "layer": "i4",
        "ieta": "i4",
        "iphi": "i4",
        "truth_fraction": "f4",
    },
    "Track": {"pt": "f4", "eta": "f4", "phi": "f4", "d0": "f4", "dz": "f4", "charge": "i4"},
    "PixelHit": {"eta": "f4", "phi": "f4", "layer": "i4"},
    "Jet": {"pt": "f4", "eta": "f4", "phi": "f4", "mass": "f4", "label": "i4"},
    "Photon": {"pt": "f4", "eta": "f4", "phi": "f4", "label": "i4"},
}
DEFAULTS = {"truth_fraction": -1.0, "label": -1, "pt": 10.0, "mass": 0.0}


def _wrap(phi: float) -> float:
    return (phi + math.pi) % (2 * math.pi) - math.pi


def ecal_centre(ieta: int, iphi: int) -> tuple[float, float]:
    """(eta, phi) of the centre of ECAL crystal (ieta in [-85, 84], iphi in [0, 360) counted
    from phi = 0, phi returned in [-pi, pi))."""
    return (ieta + 0.5) * DETA, _wrap((iphi + 0.5) * DPHI)


def hcal_centre(ieta: int, iphi: int) -> tuple[float, float]:
    """(eta, phi) of the centre of HCAL tower (ieta in [-17, 16], iphi in [0, 72))."""
    return (ieta + 0.5) * 5 * DETA, _wrap((iphi + 0.5) * 5 * DPHI)


def ecal_hit(ieta: int, iphi: int, energy: float, layer: int = 0, **kw: float) -> dict[str, Any]:
    eta, phi = ecal_centre(ieta, iphi)
    return {
        "eta": eta,
        "phi": phi,
        "energy": energy,
        "subdet": 0,
        "layer": layer,
        "ieta": ieta,
        "iphi": iphi,
        **kw,
    }


def hcal_hit(ieta: int, iphi: int, energy: float, layer: int = 0, **kw: float) -> dict[str, Any]:
    eta, phi = hcal_centre(ieta, iphi)
    return {
        "eta": eta,
        "phi": phi,
        "energy": energy,
        "subdet": 1,
        "layer": layer,
        "ieta": ieta,
        "iphi": iphi,
        **kw,
    }


def write_and_read(
    path: Path, events: list[dict[str, list[dict[str, Any]]]], *, with_event: bool = True
) -> ak.Array:
    """Each event maps a collection ("Hit", "Jet", ...) to a list of objects (dicts). Events
    are numbered 1000, 1001, ... in branch ``event``, or carry no event number."""
    data: dict[str, Any] = {"task": np.zeros(len(events), dtype=np.int32)}
    if with_event:
        data["event"] = np.arange(1000, 1000 + len(events), dtype=np.int64)
    for coll, fields in FIELDS.items():
        counts = np.array([len(ev.get(coll, [])) for ev in events], dtype=np.int64)
        cols = {}
        for name, dtype in fields.items():
            flat = [
                obj.get(name, DEFAULTS.get(name, 0)) for ev in events for obj in ev.get(coll, [])
            ]
            cols[name] = ak.unflatten(np.array(flat, dtype=dtype), counts)
        data[coll] = ak.zip(cols)
    with uproot.recreate(path) as f:
        f.mktree("Events", data)
    schema = load_schema("e2e_gnn")
    if not with_event:
        schema = schema.select(scalars=["task"])
    return load_events(path, schema)
