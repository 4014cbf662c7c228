"""Point clouds sit where a track reaches the calorimeter, the detector's own impact point.

Events go through the generator's detector response (``generate.detector.simulate``), so
the cells, their ``truth_fraction`` and the bend are the detector's; the expectations below
(the bend formula, the vertex-direction cloud) are written out independently.
"""

from __future__ import annotations

import dataclasses
import math

import awkward as ak
import numpy as np

from e2e_gnn.frames import PointCloudProducer
from e2e_gnn.generate.detector import DetectorConfig, calorimeter_impact, simulate

# every deposit read out (no noise, no thresholds), every charged pion a track
DETECTOR = DetectorConfig(
    track_efficiency=1.0, ecal_noise=0.0, ecal_threshold=0.0, hcal_noise=0.0, hcal_threshold=0.0
)
# sin of the bend at 1.29 m in 3.8 T for pT = 1 GeV and a unit charge
BEND = 0.3 * 3.8 * 1.29 / 2


def _pions(pts: list[float], charges: list[float], eta: float, phi: float, n: int) -> ak.Array:
    """The same charged pions (pT, charge) at (eta, phi) from the origin in n events."""
    pt = np.tile(np.asarray(pts, dtype=np.float64), n)
    mass = 0.1396
    p = pt * np.cosh(eta)
    columns = {
        "px": pt * np.cos(phi),
        "py": pt * np.sin(phi),
        "pz": pt * np.sinh(eta),
        "e": np.sqrt(p**2 + mass**2),
        "pdg": np.full(pt.size, 211, dtype=np.int32),
        "charge": np.tile(np.asarray(charges, dtype=np.float64), n),
        "vx": np.zeros(pt.size),
        "vy": np.zeros(pt.size),
        "vz": np.zeros(pt.size),
    }
    return ak.unflatten(ak.zip(columns), np.full(n, len(pts)))


def _events(particles: ak.Array, seed: int) -> ak.Array:
    """The detector response in the layout the frame producers read."""
    response = simulate(particles, DETECTOR, np.random.default_rng(seed))
    return ak.zip(
        {
            "event": np.arange(len(particles), dtype=np.int64),
            "tracks": response.tracks.to_awkward(),
            "hits": response.hits.to_awkward(),
        },
        depth_limit=1,
    )


def _true_energy(clouds: ak.Array) -> np.ndarray:
    label, energy = clouds["label"], clouds["points"]["energy"]
    return ak.to_numpy(ak.sum(ak.where(label > 0, label * energy, 0.0), axis=1))


def test_a_low_pt_track_cloud_holds_its_own_deposits() -> None:
    """A 2 GeV pi+ bends by asin(0.735 / 2) = 0.38 rad: none of its cells lies within 0.2
    of its vertex direction (the former cloud), all of them in its cloud at the impact."""
    eta, phi, n = 0.3, 1.0, 12
    events = _events(_pions([2.0], [1.0], eta, phi, n), seed=4)
    clouds = PointCloudProducer()(events).data
    assert ak.to_list(clouds["event"]) == list(range(n))

    hits = events["hits"]
    owned = hits["truth_fraction"] > 0
    deposited = ak.to_numpy(ak.sum(ak.where(owned, hits["truth_fraction"] * hits["energy"], 0), 1))
    assert np.all(deposited > 0.3)
    # the vertex-direction cloud would hold none of the pion's own energy
    track = events["tracks"][:, 0]
    dphi = (hits["phi"] - track["phi"] + np.pi) % (2 * np.pi) - np.pi
    near_vertex = np.hypot(hits["eta"] - track["eta"], dphi) < 0.2
    assert not ak.any(owned & near_vertex)
    # the cloud at the impact holds all of it (each owned cell once, with its fraction)
    np.testing.assert_allclose(_true_energy(clouds), deposited, rtol=1e-5)

    impact = clouds["track"]
    # the bend of the measured pT (2 GeV smeared by 0.8 %)
    expected_phi = ak.to_numpy(track["phi"]) - np.arcsin(BEND / ak.to_numpy(track["pt"]))
    assert np.all(np.abs(expected_phi - (phi - math.asin(BEND / 2.0))) < 0.01)
    np.testing.assert_allclose(ak.to_numpy(impact["phi_calo"]), expected_phi, atol=2e-4)
    np.testing.assert_allclose(
        ak.to_numpy(impact["eta_calo"]), ak.to_numpy(track["eta"]), atol=2e-4
    )
    # ... where the pion's energy is: its energy-weighted phi within two crystals
    weight = ak.where(owned, hits["energy"], 0)
    centroid = ak.to_numpy(ak.sum(weight * hits["phi"], 1) / ak.sum(weight, 1))
    np.testing.assert_allclose(centroid, expected_phi, atol=0.035)


def test_the_impact_is_the_detectors_and_loopers_get_no_cloud() -> None:
    """pi+ and pi- of 1.5 GeV leave one vertex direction and land 2 x 0.51 rad apart: each
    cloud is centred on the detector's calorimeter_impact and holds its own pion's energy;
    a 0.6 GeV track loops before the calorimeter and gets no cloud."""
    n = 10
    events = _events(_pions([1.5, 1.5, 0.6], [1.0, -1.0, 1.0], -0.4, -2.5, n), seed=5)
    pc = PointCloudProducer()(events)
    assert pc.dropped["loops_before_calorimeter"] == n
    clouds = pc.data
    assert ak.to_list(clouds["track_index"]) == [0, 1] * n

    tracks = events["tracks"]
    flat = {f: ak.to_numpy(ak.flatten(tracks[f])) for f in tracks.fields}
    eta, phi = calorimeter_impact(flat, DETECTOR)
    assert np.isnan(eta[2::3]).all() and np.isnan(phi[2::3]).all()
    reach = np.isfinite(eta)
    np.testing.assert_array_equal(ak.to_numpy(clouds["track"]["eta_calo"]), eta[reach].astype("f4"))
    np.testing.assert_array_equal(ak.to_numpy(clouds["track"]["phi_calo"]), phi[reach].astype("f4"))
    for k, charge in ((0, 1), (1, -1)):
        bend = np.arcsin(BEND / flat["pt"][k::3])
        np.testing.assert_allclose(phi[k::3], flat["phi"][k::3] - charge * bend, atol=2e-4)

    # every cell the generator gives to a pion sits in that pion's cloud with its fraction
    hits = events["hits"]
    owned = ak.where(hits["truth_fraction"] > 0, hits["truth_fraction"] * hits["energy"], 0)
    true_energy = _true_energy(clouds).reshape(n, 2)
    assert np.all(true_energy > 0.2)
    np.testing.assert_allclose(true_energy.sum(axis=1), ak.to_numpy(ak.sum(owned, 1)), rtol=1e-5)


def test_the_field_comes_from_the_detector_config() -> None:
    """Without field the producer centres the clouds on the vertex direction, as it did before
    propagating: the 2 GeV pion's cloud then holds none of its energy (and it uses its
    ``detector``, not a number of its own)."""
    events = _events(_pions([2.0], [1.0], 0.3, 1.0, 3), seed=6)
    no_field = dataclasses.replace(DETECTOR, magnetic_field_t=0.0)
    clouds = PointCloudProducer(min_points=0, detector=no_field)(events).data
    track = events["tracks"][:, 0]
    np.testing.assert_allclose(
        ak.to_numpy(clouds["track"]["phi_calo"]), ak.to_numpy(track["phi"]), atol=2e-4
    )
    assert np.all(_true_energy(clouds) == 0)
    assert np.all(_true_energy(PointCloudProducer(detector=DETECTOR)(events).data) > 0.3)
