"""LayeredCaloProducer and PointCloudProducer against hand-computed images and labels."""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from _frames_events import ecal_centre, ecal_hit, hcal_hit, write_and_read

from e2e_gnn.frames import LAYER_NAMES, POINT_FEATURES, LayeredCaloProducer, PointCloudProducer


def test_layered_image_threshold_bins_layers_and_normalisation(tmp_path: Path) -> None:
    j_eta, j_phi = ecal_centre(0, 180)  # (0.0087, -pi + 0.0087): phi wraps at the far edge
    events = write_and_read(
        tmp_path / "e.root",
        [
            {
                "Jet": [{"eta": j_eta, "phi": j_phi, "label": 1}],
                "Hit": [
                    ecal_hit(0, 180, 2.0, layer=1),  # reference: bin (7, 7), layer ECAL1
                    ecal_hit(2, 180, 1.0, layer=1),  # +2 crystals in eta = +1 bin
                    ecal_hit(0, 182, 0.5, layer=0),  # +2 crystals in phi = +1 bin
                    ecal_hit(1, 180, 0.3, layer=0),  # below 400 MeV: dropped
                    hcal_hit(0, 36, 1.5, layer=1),  # centre +2 crystals both ways, HCAL1
                    ecal_hit(17, 180, 0.8, layer=2),  # dR 0.30 < 0.4, but bin 16: outside
                    ecal_hit(40, 180, 5.0),  # dR 0.69: not in the jet, so not the reference
                ],
            },
            {"Jet": [{"eta": 0.0, "phi": 1.0}], "Hit": [ecal_hit(0, 57, 0.3)]},  # phi 1.0
        ],
    )
    fr = LayeredCaloProducer()(events)
    assert fr.data.shape == (1, 1, 6, 15, 15)
    assert fr.data.dtype == np.float32
    assert fr.layer_names == LAYER_NAMES == ("ECAL0", "ECAL1", "ECAL2", "HCAL0", "HCAL1", "HCAL2")
    assert fr.dropped == {"no_cell_above_threshold": 1}
    img = fr.data[0, 0]
    total = 2.0 + 1.0 + 0.5 + 1.5
    expected = {(1, 7, 7): 2.0, (1, 8, 7): 1.0, (0, 7, 8): 0.5, (4, 8, 8): 1.5}
    for (layer, ie, ip), e in expected.items():
        assert img[layer, ie, ip] == pytest.approx(e / total, rel=1e-6)
    assert np.count_nonzero(img) == 4
    assert img.sum() == pytest.approx(1.0, rel=1e-6)
    assert fr.center.tolist() == [[85, 180]]
    assert fr.label.tolist() == [1]


def test_layered_threshold_is_configurable(tmp_path: Path) -> None:
    events = write_and_read(
        tmp_path / "e.root",
        [
            {
                "Jet": [{"eta": 0.0, "phi": ecal_centre(0, 57)[1]}],
                "Hit": [ecal_hit(0, 57, 0.3), ecal_hit(1, 57, 0.1)],
            }
        ],
    )
    fr = LayeredCaloProducer(threshold=0.2)(events)
    assert len(fr) == 1
    assert fr.data[0, 0, 0, 7, 7] == pytest.approx(1.0)  # only the 0.3 GeV cell survives
    assert fr.data.sum() == pytest.approx(1.0)
    assert len(LayeredCaloProducer(threshold=0.5)(events)) == 0  # nothing left: no images


def _cell(eta: float, phi: float, energy: float, frac: float) -> dict[str, float]:
    return {
        "eta": eta,
        "phi": phi,
        "energy": energy,
        "subdet": 0,
        "layer": 1,
        "truth_fraction": frac,
    }


def _track(eta: float, phi: float, pt: float) -> dict[str, float]:
    """A positive track from the origin that reaches the calorimeter at (eta, phi): its
    vertex phi is ahead by the bend asin(0.3 B R / (2 pT)), B = 3.8 T, R = 1.29 m."""
    bent = phi + math.asin(0.3 * 3.8 * 1.29 / (2 * pt))
    return {"pt": pt, "eta": eta, "phi": bent, "d0": 0.0, "dz": 0.0, "charge": 1}


def _two_track_event(tmp_path: Path) -> ak.Array:
    return write_and_read(
        tmp_path / "e.root",
        [
            {
                "Track": [_track(0.0, 0.0, 10.0), _track(0.15, 0.0, 5.0), _track(1.0, 2.0, 3.0)],
                "Hit": [
                    _cell(0.05, 0.0, 4.0, 0.8),  # closest to track 0
                    _cell(0.12, 0.0, 2.0, 0.6),  # closest to track 1
                    _cell(-0.1, 0.05, 1.0, -1.0),  # unknown truth; only near track 0
                    _cell(0.5, 0.0, 9.0, 0.3),  # near no track
                    {**_cell(-0.05, 0.1, 3.0, 0.5), "subdet": 1, "layer": 2},  # HCAL: depth 5
                ],
            }
        ],
    )


def test_point_clouds_membership_features_and_labels(tmp_path: Path) -> None:
    pc = PointCloudProducer()(_two_track_event(tmp_path))
    # track 2 has no cells
    assert pc.dropped == {"below_min_pt": 0, "loops_before_calorimeter": 0, "too_few_points": 1}
    assert pc.data.track_index.tolist() == [0, 1]
    assert ak.num(pc.data.points).tolist() == [4, 2]
    t0 = pc.data[0]
    assert t0.points.energy.tolist() == [4.0, 2.0, 1.0, 3.0]
    assert t0.label.tolist() == pytest.approx([0.8, 0.0, -1.0, 0.5])
    assert t0.points.depth.tolist() == [1, 1, 1, 5]
    assert t0.points.subdet.tolist() == [0, 0, 0, 1]
    assert t0.points.deta.tolist() == pytest.approx([0.05, 0.12, -0.1, -0.05], abs=1e-6)
    assert t0.points.dphi.tolist() == pytest.approx([0.0, 0.0, 0.05, 0.1], abs=1e-6)
    assert t0.points.dr.tolist() == pytest.approx(
        [0.05, 0.12, math.hypot(0.1, 0.05), math.hypot(0.05, 0.1)], abs=1e-6
    )
    t1 = pc.data[1]
    assert t1.points.energy.tolist() == [4.0, 2.0]  # the cell at dR 0.255 is outside
    assert t1.label.tolist() == pytest.approx([0.0, 0.6])  # cell 0 belongs to track 0
    assert t1.track.pt == pytest.approx(5.0)
    assert pc.features().shape == (6, len(POINT_FEATURES))


def test_point_clouds_min_pt_and_missing_truth(tmp_path: Path) -> None:
    events = _two_track_event(tmp_path)
    pc = PointCloudProducer(min_pt=6.0)(events)
    assert pc.dropped == {"below_min_pt": 2, "loops_before_calorimeter": 0, "too_few_points": 0}
    assert pc.data.track_index.tolist() == [0]
    # track 1 still counts when deciding which track a cell is closest to
    assert pc.data[0].label.tolist() == pytest.approx([0.8, 0.0, -1.0, 0.5])
    no_truth = ak.with_field(
        events, events.hits[["eta", "phi", "energy", "subdet", "layer"]], "hits"
    )
    unlabelled = PointCloudProducer()(no_truth)
    assert ak.all(ak.flatten(unlabelled.data.label) == -1.0)


def test_point_clouds_have_no_maximum_length(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 1500
    r = 0.19 * np.sqrt(rng.random(n))
    a = 2 * np.pi * rng.random(n)
    cells = [
        _cell(float(x), float(y), 1.0, 0.5)
        for x, y in zip(r * np.cos(a), r * np.sin(a), strict=True)
    ]
    events = write_and_read(
        tmp_path / "e.root", [{"Track": [_track(0.0, 0.0, 20.0)], "Hit": cells}, {}]
    )
    pc = PointCloudProducer()(events)
    assert ak.num(pc.data.points).tolist() == [n]
    assert ak.sum(pc.data.points.energy) == pytest.approx(float(n))
    assert ak.all(pc.data.label == 0.5)
