"""The parametric detector response on hand-made particles and on Pythia events."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from _detector_reference import nearest_track, simulate_reference

from e2e_gnn.generate.detector import DetectorConfig, simulate

QUIET = DetectorConfig(ecal_noise=0.0, ecal_threshold=0.0, hcal_noise=0.0, hcal_threshold=0.0)
"""No noise, no zero suppression: what goes into the cells comes out."""


def particles(
    per_event: int,
    n_events: int,
    *,
    pdg: int,
    energy: float | np.ndarray,
    eta: float | np.ndarray,
    phi: float | np.ndarray,
    charge: float = 0.0,
    vertex: tuple[float, float, float] = (0.0, 0.0, 0.0),
    mass: float = 0.0,
) -> ak.Array:
    """``per_event`` identical-kind particles in each of ``n_events`` events."""
    n = per_event * n_events
    energy, eta, phi = (np.broadcast_to(np.asarray(x, float), (n,)) for x in (energy, eta, phi))
    p = np.sqrt(np.maximum(energy**2 - mass**2, 0.0))
    pt = p / np.cosh(eta)
    columns = {
        "px": pt * np.cos(phi),
        "py": pt * np.sin(phi),
        "pz": pt * np.sinh(eta),
        "e": energy,
        "pdg": np.full(n, pdg, dtype=np.int32),
        "charge": np.full(n, charge),
        "vx": np.full(n, vertex[0]),
        "vy": np.full(n, vertex[1]),
        "vz": np.full(n, vertex[2]),
    }
    counts = np.full(n_events, per_event)
    return ak.zip({k: ak.unflatten(v, counts) for k, v in columns.items()})


def _event_sums(response, subdet: int | None = None) -> np.ndarray:
    energy = response.hits["energy"].astype(np.float64)
    event = np.repeat(np.arange(response.hits.counts.size), response.hits.counts)
    if subdet is not None:
        keep = response.hits["subdet"] == subdet
        energy, event = energy[keep], event[keep]
    return np.bincount(event, weights=energy, minlength=response.hits.counts.size)


def test_ecal_resolution_matches_stochastic_and_constant_terms() -> None:
    """Single 50 GeV photons: std/mean of the ECAL sum = sqrt(a^2/E + c^2)."""
    n, energy = 4000, 50.0
    rng = np.random.default_rng(1)
    photons = particles(
        1, n, pdg=22, energy=energy, eta=rng.uniform(-1.2, 1.2, n), phi=rng.uniform(-3, 3, n)
    )
    response = simulate(photons, QUIET, np.random.default_rng(2))
    sums = _event_sums(response)
    expected = np.hypot(QUIET.ecal_stochastic / np.sqrt(energy), QUIET.ecal_constant)
    # the std of 4000 Gaussian-like draws is known to ~1.1 %: 6 % is > 5 sigma
    assert sums.std() / sums.mean() == pytest.approx(expected, rel=0.06)
    assert sums.mean() == pytest.approx(energy, rel=5 * expected / np.sqrt(n))
    assert np.all(response.hits["subdet"] == 0)


def test_hcal_resolution_for_neutral_hadrons_with_no_ecal_share() -> None:
    config = dataclasses.replace(QUIET, hadron_ecal_fraction=0.0)
    n, energy = 4000, 20.0
    neutrons = particles(1, n, pdg=2112, energy=energy, eta=0.3, phi=1.0, mass=0.94)
    response = simulate(neutrons, config, np.random.default_rng(3))
    sums = _event_sums(response, subdet=1)
    expected = np.hypot(config.hcal_stochastic / np.sqrt(energy), config.hcal_constant)
    assert sums.std() / sums.mean() == pytest.approx(expected, rel=0.06)
    assert sums.mean() == pytest.approx(energy, rel=5 * expected / np.sqrt(n))


def test_electronic_noise_and_threshold() -> None:
    """Noise-only hits: rate from the Gaussian tail, all above threshold."""
    config = DetectorConfig()
    empty = particles(0, 200, pdg=22, energy=1.0, eta=0.0, phi=0.0)
    response = simulate(empty, config, np.random.default_rng(4))
    ecal = response.hits["subdet"] == 0
    n_cells = 200 * 3 * 170 * 360
    tail = 3.167e-5  # P(N(0,1) > 4)
    expected = n_cells * tail
    assert ecal.sum() == pytest.approx(expected, abs=5 * np.sqrt(expected))
    assert response.hits["energy"][ecal].min() > config.ecal_threshold
    assert np.all(response.hits["truth_fraction"] == -1)


def test_track_resolutions() -> None:
    """pT and d0 smearing of tracks from the origin: sigma = a (+) b pT, a (+) b / pT."""
    config = DetectorConfig(track_efficiency=1.0)
    n, pt = 5000, 40.0
    rng = np.random.default_rng(5)
    eta, phi = rng.uniform(-2, 2, n), rng.uniform(-3, 3, n)
    energy = pt * np.cosh(eta)
    pions = particles(1, n, pdg=211, energy=energy, eta=eta, phi=phi, charge=1.0)
    tracks = simulate(pions, config, np.random.default_rng(6)).tracks
    assert tracks["pt"].size == n
    ratio = tracks["pt"] / pt
    expected_pt = np.hypot(config.track_pt_resolution, config.track_pt_resolution_slope * pt)
    assert ratio.std() == pytest.approx(expected_pt, rel=0.06)
    assert ratio.mean() == pytest.approx(1.0, abs=5 * expected_pt / np.sqrt(n))
    expected_d0 = np.hypot(config.track_d0_resolution, config.track_d0_resolution_ms / pt)
    assert tracks["d0"].std() == pytest.approx(expected_d0, rel=0.06)
    assert np.all(tracks["charge"] == 1)


def test_displaced_vertex_gives_impact_parameter_and_misses_inner_pixels() -> None:
    """A pion made 8 cm from the beam, flying along +y: d0 = -8 cm, no hits at r < 8 cm."""
    pions = particles(
        1, 50, pdg=211, energy=30.0, eta=0.0, phi=np.pi / 2, charge=1.0, vertex=(8.0, 0.0, 0.0)
    )
    response = simulate(pions, DetectorConfig(track_efficiency=1.0), np.random.default_rng(7))
    np.testing.assert_allclose(response.tracks["d0"], -8.0, atol=0.02)
    layers = set(np.unique(response.pixel_hits["layer"]).tolist())
    assert layers == {2, 3}  # radii 10.9 and 16.0 cm


def test_pixel_hits_of_a_track_from_a_vertex_beyond_the_pixel_length() -> None:
    """Made at z = 30 cm flying backwards (pz/pT = -0.5): z = 28.6 cm at r = 2.9 cm is
    outside the layers' half length 26.7 cm, z = 26.6, 24.6, 22 cm at the others."""
    pions = particles(
        1,
        20,
        pdg=211,
        energy=20.0,
        eta=np.arcsinh(-0.5),
        phi=1.0,
        charge=1.0,
        vertex=(0.0, 0.0, 30.0),
    )
    hits = simulate(pions, DetectorConfig(pixel_efficiency=1.0), np.random.default_rng(10))
    pixel = hits.pixel_hits
    assert sorted(set(pixel["layer"].tolist())) == [1, 2, 3]
    radius = np.asarray(DetectorConfig().pixel_radii)[pixel["layer"]]
    np.testing.assert_allclose(np.sinh(pixel["eta"]) * radius, 30.0 - 0.5 * radius, rtol=1e-5)


def _line_meets_cylinder(
    vertex: np.ndarray, direction: np.ndarray, radius: float
) -> tuple[float, float]:
    """eta, phi (seen from the origin) where the line vertex + t direction, t > 0, meets
    the cylinder x^2 + y^2 = radius^2: the positive root of a t^2 + b t + c = 0."""
    a = direction[0] ** 2 + direction[1] ** 2
    b = 2 * (vertex[0] * direction[0] + vertex[1] * direction[1])
    c = vertex[0] ** 2 + vertex[1] ** 2 - radius**2
    t = (-b + np.sqrt(b**2 - 4 * a * c)) / (2 * a)
    x, y, z = vertex + t * direction
    return float(np.arcsinh(z / np.hypot(x, y))), float(np.arctan2(y, x))


def _layer_centroids(response, event: int, subdet: int, layer: int) -> tuple[float, float, float]:
    """Energy, energy-weighted eta and phi of the cells of one layer of one event."""
    hits = response.hits
    event_of = np.repeat(np.arange(hits.counts.size), hits.counts)
    keep = (event_of == event) & (hits["subdet"] == subdet) & (hits["layer"] == layer)
    energy = hits["energy"][keep].astype(np.float64)
    total = energy.sum()
    if total == 0:
        return 0.0, np.nan, np.nan
    eta = float(energy @ hits["eta"][keep] / total)
    return float(total), eta, float(energy @ hits["phi"][keep] / total)


# the vertex (cm) and the direction of neutral particles; the ALP decays of the
# displaced-photon task happen anywhere up to the calorimeter
DISPLACED = [
    ((0.0, 0.0, 0.0), 0.4, 0.7),
    ((30.0, -10.0, 5.0), 0.4, 0.7),
    ((60.0, 20.0, -40.0), -0.8, 1.2),
    ((-90.0, 50.0, 30.0), 0.2, 2.4),
    ((100.0, 0.0, 0.0), 0.5, 1.0),
    ((0.0, 120.0, 60.0), -0.3, 0.9),
    ((120.0, 40.0, 0.0), 0.1, -0.6),  # L_xy = 126 cm: beyond the first ECAL layer radius
]


@pytest.mark.parametrize(
    ("pdg", "subdet"), [(22, 0), (130, 1)], ids=["photon_ecal", "neutral_hadron_hcal"]
)
def test_showers_of_displaced_neutral_particles_start_at_their_vertex(
    pdg: int, subdet: int
) -> None:
    """Each layer's deposits sit where the straight line from the production vertex crosses
    that layer's radius (eta, phi seen from the origin, as the cells are), so they move
    with L_xy and, off the origin, differ from layer to layer; layers the vertex lies
    beyond get nothing. The lateral spread (1 cell) is integrated over cells, so the
    energy-weighted centroid of the cells finds the crossing to a small fraction of a cell."""
    config = dataclasses.replace(
        QUIET,
        ecal_em_spread=1.0,
        ecal_hadron_spread=1.0,
        hcal_spread=1.0,
        hadron_ecal_fraction=0.0 if subdet else 0.3,
    )
    radii = config.hcal_layer_radii if subdet else config.ecal_layer_radii
    cell_eta = config.hcal_cell_eta if subdet else config.ecal_cell_eta
    cell_phi = 2 * np.pi / (config.hcal_n_phi if subdet else config.ecal_n_phi)
    n = len(DISPLACED)
    vertices = np.array([case[0] for case in DISPLACED])
    eta = np.array([case[1] for case in DISPLACED])
    phi = np.array([case[2] for case in DISPLACED])
    energy, mass = 80.0, (0.0 if pdg == 22 else 0.5)
    pt = np.sqrt(energy**2 - mass**2) / np.cosh(eta)
    events = ak.zip(
        {
            name: ak.unflatten(values, np.ones(n, dtype=np.int64))
            for name, values in {
                "px": pt * np.cos(phi),
                "py": pt * np.sin(phi),
                "pz": pt * np.sinh(eta),
                "e": np.full(n, energy),
                "pdg": np.full(n, pdg, dtype=np.int32),
                "charge": np.zeros(n),
                "vx": vertices[:, 0],
                "vy": vertices[:, 1],
                "vz": vertices[:, 2],
            }.items()
        }
    )
    response = simulate(events, config, np.random.default_rng(5))
    moved = 0
    for event, (vertex, _, _) in enumerate(DISPLACED):
        direction = np.array([np.cos(phi[event]), np.sin(phi[event]), np.sinh(eta[event])])
        for layer, radius in enumerate(radii):
            deposited, got_eta, got_phi = _layer_centroids(response, event, subdet, layer)
            if np.hypot(vertex[0], vertex[1]) >= radius:
                assert deposited == 0, (vertex, layer)
                continue
            want_eta, want_phi = _line_meets_cylinder(np.array(vertex), direction, radius)
            assert deposited > 0, (vertex, layer)
            assert got_eta == pytest.approx(want_eta, abs=0.15 * cell_eta), (vertex, layer)
            assert got_phi == pytest.approx(want_phi, abs=0.15 * cell_phi), (vertex, layer)
            # off the origin the cells do not point back along the particle's direction
            far = max(abs(want_eta - eta[event]) / cell_eta, abs(want_phi - phi[event]) / cell_phi)
            moved += far > 2
    assert moved >= 10  # most displaced cases move by several cells


def test_photons_made_beyond_the_ecal_shower_in_the_hcal_and_beyond_it_nowhere() -> None:
    """L_xy = 160 cm (between the last ECAL layer at 149 cm and the HCAL at 195 cm): all the
    energy in the HCAL, at the layers' crossings; L_xy = 300 cm: beyond every layer."""
    config = dataclasses.replace(QUIET, hcal_spread=1.0)
    n = 200
    photons = particles(1, n, pdg=22, energy=50.0, eta=0.2, phi=1.0, vertex=(160.0, 0.0, 0.0))
    response = simulate(photons, config, np.random.default_rng(6))
    assert np.all(response.hits["subdet"] == 1)
    sums = _event_sums(response, subdet=1)
    expected = np.hypot(config.hcal_stochastic / np.sqrt(50.0), config.hcal_constant)
    assert sums.mean() == pytest.approx(50.0, rel=5 * expected / np.sqrt(n))
    direction = np.array([np.cos(1.0), np.sin(1.0), np.sinh(0.2)])
    for layer, radius in enumerate(config.hcal_layer_radii):
        _, eta, phi = _layer_centroids(response, 0, 1, layer)
        want_eta, want_phi = _line_meets_cylinder(np.array([160.0, 0.0, 0.0]), direction, radius)
        assert eta == pytest.approx(want_eta, abs=0.15 * config.hcal_cell_eta)
        assert phi == pytest.approx(want_phi, abs=0.15 * 2 * np.pi / config.hcal_n_phi)
    far = particles(1, 5, pdg=22, energy=50.0, eta=0.2, phi=1.0, vertex=(300.0, 0.0, 0.0))
    assert simulate(far, config, np.random.default_rng(6)).hits["energy"].size == 0


def test_loopers_do_not_reach_the_calorimeter_and_leave_inner_pixel_hits_only() -> None:
    """pT = 0.05 GeV in 3.8 T: the helix diameter is 8.8 cm, so only pixel layers at
    2.9 and 6.8 cm are crossed and the calorimeter is never reached."""
    pions = particles(1, 20, pdg=211, energy=0.05 * np.cosh(0.1), eta=0.1, phi=0.0, charge=-1)
    response = simulate(pions, QUIET, np.random.default_rng(8))
    assert response.hits["energy"].size == 0
    assert set(np.unique(response.pixel_hits["layer"]).tolist()) == {0, 1}


def test_truth_fraction_of_isolated_particles() -> None:
    """A lone charged pion owns its cells (fraction 1); a lone photon has no track (-1)."""
    pion = particles(1, 30, pdg=211, energy=30.0, eta=0.5, phi=0.5, charge=1.0)
    photon = particles(1, 30, pdg=22, energy=30.0, eta=-0.5, phi=2.0)
    both = ak.concatenate([pion, photon], axis=1)
    config = dataclasses.replace(QUIET, track_efficiency=1.0)
    hits = simulate(both, config, np.random.default_rng(9)).hits
    near_pion = hits["eta"] > 0
    np.testing.assert_allclose(hits["truth_fraction"][near_pion], 1.0, atol=1e-6)
    assert np.all(hits["truth_fraction"][~near_pion] == -1)


def test_truth_fraction_splits_shared_cells() -> None:
    """An electron (20 GeV, the only track) and a photon (30 GeV) two crystals apart:
    sum over cells of fraction x energy is the electron's smeared energy, sigma 0.13 GeV."""
    n = 30
    electron = particles(1, n, pdg=11, energy=20.0, eta=0.3, phi=1.0, charge=-1.0, mass=0.0)
    photon = particles(1, n, pdg=22, energy=30.0, eta=0.3, phi=1.0)
    config = dataclasses.replace(QUIET, track_efficiency=1.0)
    hits = simulate(ak.concatenate([electron, photon], axis=1), config, np.random.default_rng(13))
    fraction, energy = hits.hits["truth_fraction"], hits.hits["energy"].astype(np.float64)
    assert np.all((fraction >= 0) & (fraction <= 1))
    assert ((fraction > 0.05) & (fraction < 0.95)).any()
    event = hits.hits.event
    from_electron = np.bincount(event, weights=fraction * energy, minlength=n)
    total = np.bincount(event, weights=energy, minlength=n)
    sigma = 20.0 * np.hypot(config.ecal_stochastic / np.sqrt(20.0), config.ecal_constant)
    np.testing.assert_allclose(from_electron, 20.0, atol=5 * sigma)
    np.testing.assert_allclose(total, 50.0, atol=5 * np.sqrt(2) * 30.0 * 0.0062)


def test_energy_conserved_on_pythia_events() -> None:
    """Sum of cell energies = visible energy reaching the barrel, within the resolution."""
    pytest.importorskip("pythia8mc")
    from e2e_gnn.generate.pythia import PythiaSource
    from e2e_gnn.generate.tasks import get_task

    events = PythiaSource(get_task("quark_gluon"), mpi=False).generate(0, 30, 11).particles
    events = events.to_awkward()
    config = dataclasses.replace(QUIET, muon_ecal=0.0, muon_hcal=0.0)
    response = simulate(events, config, np.random.default_rng(12))
    sums = _event_sums(response)
    pt = np.hypot(events.px, events.py)
    eta = np.arcsinh(events.pz / pt)
    # charged particles need pT > 0.3 B R / 2 = 0.735 GeV to reach R = 1.29 m
    reach = (events.charge == 0) | (pt > 0.3 * 3.8 * 1.29 / 2)
    # a margin keeps showers whose lateral tails leave the barrel out of the sum
    inside = reach & (abs(eta) < config.barrel_eta_max - 0.05) & (abs(events.pdg) != 13)
    edge = reach & (abs(eta) < config.barrel_eta_max) & ~inside & (abs(events.pdg) != 13)
    visible = ak.to_numpy(ak.sum(events.e[inside], axis=1))
    at_edge = ak.to_numpy(ak.sum(events.e[edge], axis=1))
    # per event: sum of per-particle variances with the worse (HCAL) resolution
    sigma = np.sqrt(
        ak.to_numpy(
            ak.sum(
                config.hcal_stochastic**2 * events.e[inside | edge]
                + (config.hcal_constant * events.e[inside | edge]) ** 2,
                axis=1,
            )
        )
    )
    assert np.all(sums >= visible - 5 * sigma)
    assert np.all(sums <= visible + at_edge + 5 * sigma)
    total = visible.sum() + 0.5 * at_edge.sum()
    assert sums.sum() == pytest.approx(total, rel=0.02 + at_edge.sum() / total)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"ecal_noise": -0.1}, "DetectorConfig.ecal_noise must be finite and >= 0, got -0.1"),
        ({"hcal_layers": (0.5, 0.6, 0.2)}, "hcal_layers must be positive fractions summing to 1"),
        ({"track_efficiency": 1.5}, "track_efficiency is a probability, got 1.5"),
        ({"ecal_em_layers": (0.5, 0.5)}, "need the same number of layers"),
        ({"beamspot_sigma_z": float("nan")}, "beamspot_sigma_z must be finite"),
    ],
)
def test_config_validation(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DetectorConfig(**changes)


def test_geometry_of_the_default_config() -> None:
    config = DetectorConfig()
    assert config.ecal_ieta_range == (-85, 84)
    assert config.hcal_ieta_range == (-17, 16)


def test_every_parameter_is_documented() -> None:
    """docs/generator.md tabulates every DetectorConfig field with its default."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "generator.md"
    if not doc.exists():
        pytest.skip("docs/generator.md is not part of this checkout")
    text = doc.read_text()
    for field in dataclasses.fields(DetectorConfig):
        assert f"| `{field.name}` | `{field.default!r}` |" in text, field.name


def test_reference_nearest_track_matches_brute_force() -> None:
    """The NumPy reference's binned search equals an all-pairs search, across the phi
    seam too (cpp/tests/test_detector.cpp checks the native search the same way)."""
    rng = np.random.default_rng(14)
    n_events, radius = 5, 0.2
    tracks = {
        "event": np.sort(rng.integers(0, n_events, 200)),
        "eta": rng.uniform(-1.5, 1.5, 200).astype(np.float32),
        "phi": rng.uniform(-np.pi, np.pi, 200).astype(np.float32),
    }
    tracks["phi"][:10] = np.float32(np.pi - 0.01)  # near the seam
    event = rng.integers(0, n_events, 3000)
    eta = rng.uniform(-1.5, 1.5, 3000).astype(np.float32)
    phi = rng.uniform(-np.pi, np.pi, 3000).astype(np.float32)
    phi[:50] = np.float32(-np.pi + 0.02)
    found = nearest_track(event, eta, phi, tracks, radius)
    dphi = np.abs(phi[:, None].astype(np.float64) - tracks["phi"][None, :])
    dphi = np.minimum(dphi, 2 * np.pi - dphi)
    dr2 = (eta[:, None].astype(np.float64) - tracks["eta"][None, :]) ** 2 + dphi**2
    dr2[event[:, None] != tracks["event"][None, :]] = np.inf
    expected = np.where(dr2.min(axis=1) < radius**2, dr2.argmin(axis=1), -1)
    np.testing.assert_array_equal(found, expected)
    assert (found[:50] >= 0).any()  # some matches across the seam


# ------------------------------------------- the native response vs the NumPy reference


def assert_same_response(native, reference) -> None:
    """Same hits, tracks and pixel hits, in the same order: integer columns and counts
    exactly, float32 columns to the last bit here (a tolerance of one float32 rounding
    leaves room for NumPy builds whose transcendental functions differ from the C
    library's in the last place)."""
    for name in ("hits", "tracks", "pixel_hits"):
        got, want = getattr(native, name), getattr(reference, name)
        np.testing.assert_array_equal(got.counts, want.counts, err_msg=name)
        assert list(got.columns) == list(want.columns), name
        for column, values in want.columns.items():
            assert got[column].dtype == values.dtype, (name, column)
            if np.issubdtype(values.dtype, np.floating):
                np.testing.assert_allclose(got[column], values, rtol=2e-7, atol=1e-7)
            else:
                np.testing.assert_array_equal(got[column], values, err_msg=f"{name}.{column}")


def mixed_particles(n_events: int, seed: int) -> ak.Array:
    """Hand-made events that reach every corner of the response: photons, electrons, muons,
    charged and neutral hadrons, around the phi seam and the barrel edges, soft and hard,
    loopers, displaced and far-forward vertices, vertices inside and beyond the
    calorimeter."""
    rng = np.random.default_rng(seed)
    kinds = [(22, 0.0, 0.0), (11, -1.0, 0.0), (13, 1.0, 0.106), (211, 1.0, 0.14)]
    kinds += [(-211, -1.0, 0.14), (2112, 0.0, 0.94), (130, 0.0, 0.5), (321, 1.0, 0.49)]
    per_event = 60
    n = n_events * per_event
    pdg, charge, mass = (np.array([k[i] for k in kinds]) for i in range(3))
    kind = rng.integers(0, len(kinds), n)
    pt = np.exp(rng.uniform(np.log(0.05), np.log(200.0), n))
    eta = rng.choice([-1.5, -1.479, 0.0, 0.3, 1.47, 1.52, 2.4], n) + rng.normal(0, 0.05, n)
    phi = np.where(rng.random(n) < 0.3, np.pi - rng.uniform(0, 0.05, n), rng.uniform(-4, 4, n))
    displaced = rng.random(n) < 0.3
    vertex = np.where(displaced[:, None], rng.normal(0, 5, (n, 3)), 0.0)
    vertex[:, 2] += np.where(rng.random(n) < 0.1, 35.0, 0.0)
    # decays in and beyond the calorimeter, as the displaced-photon task's
    far = rng.random(n) < 0.1
    radius, angle = rng.uniform(100.0, 320.0, far.sum()), rng.uniform(-np.pi, np.pi, far.sum())
    vertex[far, 0], vertex[far, 1] = radius * np.cos(angle), radius * np.sin(angle)
    p = pt * np.cosh(eta)
    columns = {
        "px": pt * np.cos(phi),
        "py": pt * np.sin(phi),
        "pz": pt * np.sinh(eta),
        "e": np.sqrt(p**2 + mass[kind] ** 2),
        "pdg": pdg[kind].astype(np.int32),
        "charge": charge[kind].astype(np.float64),
        "vx": vertex[:, 0],
        "vy": vertex[:, 1],
        "vz": vertex[:, 2],
    }
    counts = np.full(n_events, per_event)
    return ak.zip({k: ak.unflatten(v, counts) for k, v in columns.items()})


CONFIGS = {
    "default": DetectorConfig(),
    "quiet": QUIET,
    "sharp": DetectorConfig(
        layer_concentration=0.15,  # Dirichlet alphas < 0.1: NumPy's stick-breaking draw
        ecal_em_spread=0.2,  # 2 sigma rounds to 0: one-cell windows
        hcal_spread=1.3,  # 5 x 5 windows
        spread_min_energy=0.0,
        track_efficiency=1.0,
        pixel_efficiency=1.0,
    ),
    "all_ecal": DetectorConfig(hadron_ecal_fraction=1.0, muon_ecal=0.0, truth_radius=0.5),
    "no_smearing": DetectorConfig(
        ecal_stochastic=0.0,
        ecal_constant=0.0,
        hcal_stochastic=0.0,
        hcal_constant=0.0,
        hadron_ecal_fraction=0.0,
        truth_radius=0.0,
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_native_response_equals_the_numpy_reference(name: str) -> None:
    config = CONFIGS[name]
    events = mixed_particles(40, seed=len(name))
    pileup = mixed_particles(40, seed=99)
    native = simulate(events, config, np.random.default_rng(21), pileup=pileup)
    reference = simulate_reference(events, config, np.random.default_rng(21), pileup=pileup)
    assert_same_response(native, reference)
    assert native.hits.counts.sum() > 0 and native.tracks.counts.sum() > 0


@pytest.mark.parametrize(
    ("task", "mpi", "pileup_mean"),
    [
        ("quark_gluon", False, 0.0),
        ("quark_gluon", True, 0.0),
        ("top", False, 3.0),
        ("displaced_photon", False, 0.0),
    ],
)
def test_native_response_equals_the_numpy_reference_on_pythia_events(
    task: str, mpi: bool, pileup_mean: float
) -> None:
    pytest.importorskip("pythia8mc")
    from e2e_gnn.generate.pythia import PythiaSource
    from e2e_gnn.generate.tasks import get_task

    config = DetectorConfig(pileup_mean=pileup_mean)
    source = PythiaSource(get_task(task), mpi=mpi, pileup_mean=pileup_mean)
    events = source.generate(0, 20, 5)
    native = simulate(events.particles, config, np.random.default_rng(3), pileup=events.pileup)
    reference = simulate_reference(
        events.particles, config, np.random.default_rng(3), pileup=events.pileup
    )
    assert_same_response(native, reference)


def test_bad_inputs_are_refused() -> None:
    events = mixed_particles(3, seed=1)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        simulate(events, DetectorConfig(), np.random.RandomState(1))
    with pytest.raises(ValueError, match="pileup has 2 events but particles has 3"):
        simulate(events, DetectorConfig(), np.random.default_rng(1), pileup=events[:2])
    bad = ak.with_field(events, ak.where(ak.local_index(events.px) == 4, np.nan, events.px), "px")
    with pytest.raises(ValueError, match=r"px\[4\] must be finite, got nan"):
        simulate(bad, DetectorConfig(), np.random.default_rng(1))


def test_native_call_checks_its_columns() -> None:
    from e2e_gnn._native_loader import load_native
    from e2e_gnn.generate.detector import _native_config, flatten_particles

    native = load_native()
    flat = flatten_particles(mixed_particles(2, seed=2))
    config = _native_config(DetectorConfig())
    rng = np.random.default_rng(1)
    with pytest.raises(KeyError, match="missing column 'vz'"):
        native.detector_response({k: v for k, v in flat.items() if k != "vz"}, 2, config, rng)
    with pytest.raises(TypeError, match=r"particles\['pdg'\] must be a C-contiguous 1-D int32"):
        native.detector_response(flat | {"pdg": flat["pdg"].astype(np.int64)}, 2, config, rng)
    with pytest.raises(ValueError, match=r"particles\['e'\] has 3 entries, 'event' has 120"):
        native.detector_response(flat | {"e": flat["e"][:3]}, 2, config, rng)
    with pytest.raises(IndexError, match=r"event\[60\] = 1 is outside \[0, 1\)"):
        native.detector_response(flat, 1, config, rng)
    with pytest.raises(KeyError, match="config: missing 'hcal_noise_tail'"):
        config_without = {k: v for k, v in config.items() if k != "hcal_noise_tail"}
        native.detector_response(flat, 2, config_without, rng)
    with pytest.raises(ValueError, match="track_efficiency, pixel_efficiency and hadron"):
        native.detector_response(flat, 2, config | {"track_efficiency": 1.5}, rng)
