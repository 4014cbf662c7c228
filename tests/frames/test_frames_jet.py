"""JetFrameProducer and EGFrameProducer against hand-computed pixel positions and sums.

Frame geometry worked out by hand: a jet pointing at HCAL tower (ieta_h, iphi_h) with no
HCAL energy nearby is seeded on that tower; its frame centre in ECAL units is row
5 * (ieta_h + 17) + 2, col 5 * iphi_h + 2, and ECAL crystal (ieta, iphi) lands in frame pixel
(ieta + 85 - row_c + 62, iphi - col_c + 62).
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from _frames_events import ecal_centre, ecal_hit, hcal_centre, hcal_hit, write_and_read

from e2e_gnn.frames import (
    JET_CHANNELS,
    EGFrameProducer,
    Frames,
    JetFrameProducer,
    LayeredCaloProducer,
)


def _jet(ieta_h: int, iphi_h: int, label: int = 1) -> dict[str, float]:
    eta, phi = hcal_centre(ieta_h, iphi_h)
    return {"pt": 50.0, "eta": eta, "phi": phi, "mass": 5.0, "label": label}


def test_single_hits_land_in_the_right_pixels_and_sums_are_conserved(tmp_path: Path) -> None:
    # jet on tower (2, 30): centre row 97 (ieta 12), col 152
    t_eta, t_phi = ecal_centre(12, 152)
    p_eta, p_phi = ecal_centre(13, 153)
    events = write_and_read(
        tmp_path / "e.root",
        [
            {
                "Jet": [_jet(2, 30)],
                "Hit": [
                    ecal_hit(12, 152, 5.0, layer=0),
                    ecal_hit(12, 152, 2.0, layer=2),  # same crystal, deeper layer: summed
                    ecal_hit(22, 132, 3.0, layer=1),  # +10 rows, -20 cols
                    ecal_hit(12, 222, 9.0),  # 70 columns away: outside the frame
                    hcal_hit(2, 30, 10.0),  # the seed tower itself, 5x5 upsampled
                ],
                "Track": [{"pt": 20.0, "eta": t_eta, "phi": t_phi, "d0": 0.05, "dz": -0.3}],
                "PixelHit": [
                    {"eta": t_eta, "phi": t_phi, "layer": 0},
                    {"eta": p_eta, "phi": p_phi, "layer": 3},
                    {"eta": p_eta, "phi": p_phi, "layer": 3},
                ],
            }
        ],
    )
    fr = JetFrameProducer()(events)
    assert fr.data.shape == (1, 9, 125, 125)
    assert fr.data.dtype == np.float32
    assert fr.channel_names == JET_CHANNELS
    assert fr.center.tolist() == [[97, 152]]
    ch = {name: fr.data[0, i] for i, name in enumerate(JET_CHANNELS)}
    assert ch["ECAL"][62, 62] == pytest.approx(7.0)
    assert ch["ECAL"][72, 42] == pytest.approx(3.0)
    assert ch["ECAL"].sum() == pytest.approx(10.0, rel=1e-6)  # the 9 GeV hit is outside
    hcal = ch["HCAL"]
    assert hcal.sum() == pytest.approx(10.0, rel=1e-6)  # upsampling conserves energy
    np.testing.assert_allclose(hcal[60:65, 60:65], 0.4, rtol=1e-6)  # rows/cols 95..99 -> 60..64
    assert np.count_nonzero(hcal) == 25
    assert ch["TRK_PT"][62, 62] == pytest.approx(20.0)
    assert ch["TRK_D0"][62, 62] == pytest.approx(0.05)
    assert ch["TRK_DZ"][62, 62] == pytest.approx(-0.3)
    assert np.count_nonzero(ch["TRK_PT"]) == 1
    assert ch["BPIX1"][62, 62] == 1.0 and ch["BPIX1"].sum() == 1.0
    assert ch["BPIX4"][63, 63] == 2.0 and ch["BPIX4"].sum() == 2.0
    assert ch["BPIX2"].sum() == ch["BPIX3"].sum() == 0.0
    assert fr.label.tolist() == [1]
    assert fr.event.tolist() == [1000]


def test_seed_is_the_max_hcal_tower_inside_the_7x7_window(tmp_path: Path) -> None:
    events = write_and_read(
        tmp_path / "e.root",
        [
            {
                "Jet": [_jet(2, 30)],
                "Hit": [
                    hcal_hit(2, 30, 2.0),  # on the axis
                    hcal_hit(4, 28, 8.0, layer=1),  # 2 towers off in eta and phi: the seed
                    hcal_hit(6, 30, 50.0),  # 4 towers off: outside the window
                    ecal_hit(22, 142, 1.0),  # crystal at the centre of tower (4, 28)
                ],
            }
        ],
    )
    fr = JetFrameProducer(channels=("ECAL", "HCAL"))(events)
    assert fr.center.tolist() == [[5 * (4 + 17) + 2, 5 * 28 + 2]]
    assert fr.data[0, 0, 62, 62] == pytest.approx(1.0)
    # the seed tower's 8 GeV is spread over frame rows/cols 60..64
    np.testing.assert_allclose(fr.data[0, 1, 60:65, 60:65], 8.0 / 25, rtol=1e-6)


def test_frame_wraps_around_in_phi(tmp_path: Path) -> None:
    # jet on tower (0, 71): centre row 87, col 357; crystal iphi 2 is 5 columns further on
    events = write_and_read(
        tmp_path / "e.root", [{"Jet": [_jet(0, 71)], "Hit": [ecal_hit(2, 2, 4.0)]}]
    )
    fr = JetFrameProducer(channels=("ECAL",))(events)
    assert fr.center.tolist() == [[87, 357]]
    assert fr.data[0, 0, 62, 67] == pytest.approx(4.0)
    assert fr.data.sum() == pytest.approx(4.0)
    # across phi = +-pi: tower 35 ends at pi, crystal 182 starts just above -pi
    seam = write_and_read(
        tmp_path / "s.root", [{"Jet": [_jet(0, 35)], "Hit": [ecal_hit(2, 182, 2.0)]}]
    )
    assert seam.jets.phi[0, 0] > 3.0 and seam.hits.phi[0, 0] < -3.0
    fr = JetFrameProducer(channels=("ECAL",))(seam)
    assert fr.center.tolist() == [[87, 177]]
    assert fr.data[0, 0, 62, 67] == pytest.approx(2.0)


def test_negative_eta_and_event_isolation(tmp_path: Path) -> None:
    events = write_and_read(
        tmp_path / "e.root",
        [
            {"Jet": [_jet(-3, 10, label=0)], "Hit": [ecal_hit(-13, 52, 2.0)]},
            {"Jet": [_jet(-3, 10, label=1), _jet(5, 40, label=-1)]},  # no hits at all
        ],
    )
    fr = JetFrameProducer(channels=("ECAL",))(events)
    assert fr.center[0].tolist() == [5 * 14 + 2, 52]  # row 72 = ieta -13 + 85
    assert fr.data[0, 0, 62, 62] == pytest.approx(2.0)
    assert fr.data[1:].sum() == 0.0  # event 1 does not see event 0's hits
    assert fr.label.tolist() == [0, 1, -1]
    assert fr.event.tolist() == [1000, 1001, 1001]
    assert fr.index.tolist() == [0, 0, 1]


def test_acceptance_edge_pad_and_drop(tmp_path: Path) -> None:
    # tower 14: centre row 157, frame rows 95..219 of which 170..219 lie beyond the barrel
    events = write_and_read(
        tmp_path / "e.root",
        [
            {
                "Jet": [
                    _jet(14, 20),
                    _jet(2, 30),
                    {"pt": 40.0, "eta": 2.0, "phi": 0.0, "label": 1},
                ],
                "Hit": [ecal_hit(84, 102, 3.0)],  # last barrel row 169 -> frame row 74
            }
        ],
    )
    padded = JetFrameProducer(channels=("ECAL",))(events)
    assert len(padded) == 2
    assert padded.dropped == {"outside_acceptance": 1}
    assert padded.data[0, 0, 74, 62] == pytest.approx(3.0)
    assert padded.data[0, 0, 75:].sum() == 0.0  # the padding
    dropped = JetFrameProducer(channels=("ECAL",), edge="drop")(events)
    assert len(dropped) == 1
    assert dropped.center.tolist() == [[97, 152]]
    assert dropped.dropped == {"outside_acceptance": 1, "frame_beyond_acceptance": 1}


def test_bad_configuration_and_missing_inputs(tmp_path: Path) -> None:
    events = write_and_read(tmp_path / "e.root", [{"Jet": [_jet(0, 0)]}])
    with pytest.raises(ValueError, match=r"unknown or no channels \['ECAL', 'EE'\]"):
        JetFrameProducer(channels=("ECAL", "EE"))(events)
    with pytest.raises(ValueError, match=r"edge must be 'pad' or 'drop', got 'crop'"):
        JetFrameProducer(edge="crop")(events)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"seed_window must be odd"):
        JetFrameProducer(seed_window=6)(events)
    nan_hit = write_and_read(
        tmp_path / "nan.root",
        [
            {},
            {
                "Jet": [_jet(0, 0)],
                "Hit": [ecal_hit(1, 1, 1.0), {**ecal_hit(2, 2, 1.0), "eta": float("nan")}],
            },
        ],
    )
    with pytest.raises(ValueError, match=r"hits.eta of event entry 1 \(element 1\) is nan"):
        JetFrameProducer()(nan_hit)
    with pytest.raises(KeyError, match=r"needs the collection 'tracks'"):
        JetFrameProducer(channels=("TRK_PT",))(events[["event", "jets", "hits"]])


def test_eg_crop_is_seeded_on_the_max_crystal_near_the_photon(tmp_path: Path) -> None:
    p_eta, p_phi = ecal_centre(10, 100)
    events = write_and_read(
        tmp_path / "e.root",
        [
            {
                "Photon": [
                    {"pt": 30.0, "eta": p_eta, "phi": p_phi, "label": 1},
                    {"pt": 30.0, "eta": 1.6, "phi": 0.0, "label": 0},  # endcap: dropped
                ],
                "Hit": [
                    ecal_hit(11, 101, 3.0, layer=0),  # seed (in the 5x5 window), summed
                    ecal_hit(11, 101, 1.0, layer=1),
                    ecal_hit(10, 100, 1.0),
                    ecal_hit(14, 101, 10.0),  # bigger but outside the seed window
                    ecal_hit(27, 101, 0.25),  # seed + 16: last row of the crop
                    ecal_hit(28, 101, 0.5),  # seed + 17: outside
                    ecal_hit(-4, 101, 0.75),  # seed - 15: first row
                    ecal_hit(-5, 101, 0.6),  # seed - 16: outside
                    hcal_hit(2, 20, 50.0),  # HCAL is not in EG frames
                ],
            },
            {"Photon": [{"pt": 20.0, "eta": p_eta, "phi": p_phi, "label": 0}]},  # no hits
        ],
    )
    fr = EGFrameProducer()(events)
    assert fr.data.shape == (2, 1, 32, 32)
    assert fr.channel_names == ("ECAL",)
    assert fr.dropped == {"outside_acceptance": 1}
    assert fr.center.tolist() == [[96, 101], [95, 100]]  # the second: photon's own crystal
    img = fr.data[0, 0]
    assert img[15, 15] == pytest.approx(4.0)
    assert img[14, 14] == pytest.approx(1.0)
    assert img[18, 15] == pytest.approx(10.0)
    assert img[31, 15] == pytest.approx(0.25)
    assert img[0, 15] == pytest.approx(0.75)
    assert img.sum() == pytest.approx(16.0, rel=1e-6)
    assert fr.data[1].sum() == 0.0
    assert fr.label.tolist() == [1, 0]


def test_frames_select_and_concatenate(tmp_path: Path) -> None:
    events = write_and_read(
        tmp_path / "e.root", [{"Jet": [_jet(0, 0, 1), _jet(1, 5, -1), _jet(2, 9, 0)]}]
    )
    fr = JetFrameProducer(channels=("ECAL", "HCAL"))(events)
    labelled = fr.select(fr.label >= 0)
    assert labelled.label.tolist() == [1, 0]
    assert labelled.index.tolist() == [0, 2]
    both = Frames.concatenate([fr, labelled])
    assert len(both) == 5
    assert both.dropped == {"outside_acceptance": 0}
    with pytest.raises(ValueError, match="cannot concatenate frames"):
        Frames.concatenate([fr, EGFrameProducer()(events[["event", "hits", "photons"]])])


def test_hits_with_cell_indices_only_give_the_same_frames(tmp_path: Path) -> None:
    """A schema may map ieta/iphi/subdet instead of eta/phi: cells go to their centres."""
    events = write_and_read(
        tmp_path / "e.root",
        [
            {
                "Jet": [_jet(2, 30), _jet(-4, 71)],
                "Hit": [
                    ecal_hit(12, 152, 5.0),
                    ecal_hit(-20, 355, 3.0, layer=1),
                    ecal_hit(-19, 2, 1.0),  # across the phi seam of the second jet
                    hcal_hit(2, 30, 10.0, layer=2),
                    hcal_hit(-4, 0, 4.0),
                ],
            }
        ],
    )
    indices_only = events.hits[["energy", "subdet", "layer", "ieta", "iphi"]]
    no_positions = ak.with_field(events, indices_only, "hits")
    for producer in (JetFrameProducer(), LayeredCaloProducer(threshold=0.0, radius=1.0)):
        a, b = producer(events), producer(no_positions)
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.center, b.center)
        assert a.data.sum() > 0
    with pytest.raises(KeyError, match=r"needs hit positions: fields 'eta' and 'phi', or 'ieta'"):
        JetFrameProducer()(ak.with_field(events, events.hits[["energy", "subdet"]], "hits"))
