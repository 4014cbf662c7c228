"""A schema derives pt, eta, phi and mass from Cartesian four-momenta (``derive``), checked
against formulas written out here, and a producer runs on the result."""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from e2e_gnn.frames import ObjectGraphProducer
from e2e_gnn.io import MissingBranchError, SchemaError, load_events, load_schema, read_events

CARTESIAN = """
name = "cartesian"
[collections.jets]
derive = {derive}
px = {{ branch = "Jet_Px", dtype = "float32" }}
py = {{ branch = "Jet_Py", dtype = "float32" }}
{pz}energy = {{ branch = "Jet_E", dtype = "float32" }}
"""
PZ = 'pz = { branch = "Jet_Pz", dtype = "float32" }\n'
# 13 - one float32 step: E^2 - |p|^2 = -3e-5 for |p| = 13, rounding of a massless object
BELOW_13 = float(np.nextafter(np.float32(13.0), np.float32(0.0)))
SPECIAL = [
    (-10.0, 0.0, 5.0, 20.0),  # atan2(+0, -10) = pi
    (-10.0, -0.0, 5.0, 20.0),  # atan2(-0, -10) = -pi, reported as pi
    (18.0, 24.0, 0.0, 40.0),  # pz = 0: eta = 0
    (0.0, 0.0, 0.0, 0.0),  # empty slot: everything 0
    (3.0, 4.0, 12.0, BELOW_13),  # m^2 slightly negative: mass 0
]


def _events() -> list[list[tuple[float, float, float, float]]]:
    rng = np.random.default_rng(11)
    events: list[list[tuple[float, float, float, float]]] = []
    for n in (3, 0, 2, 4, 1, 2):
        p = rng.normal(0.0, 40.0, (n, 3))
        m = rng.uniform(0.0, 25.0, n)
        e = np.sqrt((p**2).sum(axis=1) + m**2)
        events.append([(*row, energy) for row, energy in zip(p.tolist(), e.tolist(), strict=True)])
    events.insert(1, SPECIAL)
    return events


def _write(path: Path, events: list[list[tuple[float, float, float, float]]]) -> Path:
    counts = np.array([len(ev) for ev in events], dtype=np.int64)
    flat = np.array([obj for ev in events for obj in ev], dtype=np.float32).reshape(-1, 4)
    jets = {
        name: ak.unflatten(flat[:, k], counts) for k, name in enumerate(("Px", "Py", "Pz", "E"))
    }
    with uproot.recreate(path) as f:  # no event branch
        f.mktree("Events", {"Jet": ak.zip(jets)})
    return path


def _schema(tmp_path: Path, derive: str = '"ptetaphim"', pz: str = PZ) -> Path:
    path = tmp_path / "cartesian.toml"
    path.write_text(CARTESIAN.format(derive=derive, pz=pz))
    return path


def _expected(px: float, py: float, pz: float, e: float) -> tuple[float, float, float, float]:
    """pt, eta, phi, mass by the textbook formulas (theta, then -ln tan(theta / 2))."""
    pt = math.sqrt(px * px + py * py)
    eta = 0.0 if pt == 0 else -math.log(math.tan(math.atan2(pt, pz) / 2))
    phi = math.atan2(py, px)
    phi = phi + 2 * math.pi if phi <= -math.pi else phi
    p = math.sqrt(pt * pt + pz * pz)
    mass = math.sqrt(max((e - p) * (e + p), 0.0))
    return pt, eta, phi, mass


def test_derived_kinematics_match_the_formulas(tmp_path: Path) -> None:
    events = _events()
    src = _write(tmp_path / "cart.root", events)
    ev = load_events(src, _schema(tmp_path))
    stored = [[tuple(float(np.float32(v)) for v in obj) for obj in e] for e in events]
    want = np.array([_expected(*obj) for e in stored for obj in e])
    got = {f: ak.to_numpy(ak.flatten(ev.jets[f])) for f in ("pt", "eta", "phi", "mass")}
    for k, name in enumerate(("pt", "eta", "phi", "mass")):
        assert got[name].dtype == np.float32, name
        np.testing.assert_allclose(got[name], want[:, k], rtol=2e-6, atol=2e-5, err_msg=name)
    special = ev.jets[1]
    assert special.phi.tolist()[:2] == [np.float32(math.pi)] * 2  # in (-pi, pi]
    assert special.eta.tolist()[2:4] == [0.0, 0.0]
    assert special.mass.tolist()[3:] == [0.0, 0.0]
    assert ev.jets.px.tolist() == [[obj[0] for obj in e] for e in stored]  # sources kept


def test_a_producer_runs_on_derived_kinematics_in_chunks(tmp_path: Path) -> None:
    events = _events()
    src = _write(tmp_path / "cart.root", events)
    parts = [ObjectGraphProducer(k=2)(c) for c in read_events(src, _schema(tmp_path), step_size=3)]
    with_jets = [i for i, e in enumerate(events) if e]
    assert np.concatenate([g.event for g in parts]).tolist() == with_jets
    x = np.concatenate([g.x for g in parts])
    stored = [tuple(float(np.float32(v)) for v in obj) for e in events for obj in e]
    np.testing.assert_allclose(x[:, :4], [_expected(*o) for o in stored], rtol=2e-6, atol=2e-5)


def test_only_the_listed_fields_are_derived(tmp_path: Path) -> None:
    src = _write(tmp_path / "cart.root", _events())
    ev = load_events(src, _schema(tmp_path, derive='["phi", "pt"]', pz=""))
    assert set(ev.jets.fields) == {"px", "py", "energy", "phi", "pt"}


@pytest.mark.parametrize(
    ("derive", "pz", "match"),
    [
        ('"ptetaphi"', PZ, r"derive = 'ptetaphi'; use 'ptetaphim' or a list of distinct names"),
        (
            '["pt", "pt"]',
            PZ,
            r"derive = \['pt', 'pt'\]; use 'ptetaphim' or a list of distinct names",
        ),
        ('"ptetaphim"', "", r"deriving \['pt', 'eta', 'phi', 'mass'\] needs the fields \['pz'\]"),
        (
            '"ptetaphim"',
            'pz = { branch = "Jet_Pz", dtype = "float32", optional = true }\n',
            r"fields \['pz'\] feed derive, so they must be float32 or float64 and not optional",
        ),
        (
            '"ptetaphim"',
            PZ + 'pt = { branch = "Jet_Px", dtype = "float32" }\n',
            r"fields \['pt'\] are both read from branches and derived",
        ),
    ],
)
def test_bad_derive_declarations(tmp_path: Path, derive: str, pz: str, match: str) -> None:
    with pytest.raises(SchemaError, match=r"cartesian\.toml' \[collections\.jets\]: " + match):
        load_schema(_schema(tmp_path, derive=derive, pz=pz))


def test_missing_source_branch_names_file_and_branch(tmp_path: Path) -> None:
    src = _write(tmp_path / "cart.root", _events())
    schema = _schema(tmp_path, pz=PZ.replace("Jet_Pz", "Jet_PZ"))
    with pytest.raises(MissingBranchError) as err:
        load_events(src, schema)
    text = str(err.value)
    assert "cart.root' lacks 1 branch(es)" in text
    assert "'Jet_PZ' for field 'jets.pz, to derive pt, eta, phi, mass' (closest: ['Jet_Pz'" in text


def test_energy_below_momentum_is_refused_not_clamped(tmp_path: Path) -> None:
    events = _events()
    events[4] = [(30.0, 40.0, 0.0, 25.0)]  # E = |p| / 2: energy mapped to a wrong branch?
    src = _write(tmp_path / "cart.root", events)
    with pytest.raises(SchemaError, match=r"cart\.root': entry 4 has E\^2 - \|p\|\^2 = -1875"):
        load_events(src, _schema(tmp_path), step_size=3)


def test_along_the_beam_eta_is_infinite_and_producers_name_the_entry(tmp_path: Path) -> None:
    events = _events()
    events[4] = [(0.0, 0.0, -7.0, 7.0)]  # pt = 0, pz < 0
    src = _write(tmp_path / "cart.root", events)
    chunks = list(read_events(src, _schema(tmp_path), step_size=3))
    assert chunks[1].jets.eta.tolist()[1] == [-math.inf]
    with pytest.raises(ValueError, match=r"jets\.eta of event entry 4 is -inf; graphs need finite"):
        ObjectGraphProducer()(chunks[1])
