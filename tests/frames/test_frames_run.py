"""make_frames: ROOT in, chunked producer, ROOT/parquet out, equal to running the producer."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from _frames_events import NANOAOD, NANOAOD_MISSING, ecal_hit, hcal_centre, hcal_hit, write_and_read

from e2e_gnn.frames import JetFrameProducer, LayeredCaloProducer, ObjectGraphProducer
from e2e_gnn.frames.run import make_frames
from e2e_gnn.io import load_events, read_columns, read_frames, read_graphs


def _sample(path: Path) -> Path:
    rng = np.random.default_rng(5)
    events = []
    for i in range(7):
        ieta, iphi = int(rng.integers(-10, 10)), int(rng.integers(0, 72))
        eta, phi = hcal_centre(ieta, iphi)
        hits = [
            ecal_hit(5 * ieta + int(rng.integers(0, 5)), 5 * iphi + k, 1.0 + k) for k in range(4)
        ]
        hits.append(hcal_hit(ieta, iphi, 3.0))
        events.append({"Jet": [{"pt": 60.0, "eta": eta, "phi": phi, "label": i % 2}], "Hit": hits})
    events.append({"Jet": [{"pt": 30.0, "eta": 2.5, "phi": 0.0}]})  # outside: dropped
    write_and_read(path, events)
    return path


@pytest.mark.parametrize("suffix", [".root", ".parquet"])
def test_jet_frames_in_chunks_equal_one_producer_call(tmp_path: Path, suffix: str) -> None:
    src = _sample(tmp_path / "in.root")
    run = make_frames(
        [src],
        tmp_path / f"out{suffix}",
        kind="jet",
        step_size=3,
        plot=tmp_path / "grid.png",
        options={"channels": ("ECAL", "HCAL")},
    )
    assert (run.events, run.produced) == (8, 7)
    assert run.dropped == {"outside_acceptance": 1}
    assert run.plot is not None and run.plot.read_bytes()[:4] == b"\x89PNG"
    read = read_frames(run.output)
    cols = read.columns
    direct = JetFrameProducer(channels=("ECAL", "HCAL"))(load_events(src, "e2e_gnn"))
    assert read.channel_names == ("ECAL", "HCAL")
    np.testing.assert_array_equal(read.frames.frames, direct.data)
    assert cols["label"].tolist() == direct.label.tolist()
    assert cols["event"].tolist() == direct.event.tolist()
    assert cols["center_row"].tolist() == direct.center[:, 0].tolist()


def test_layered_frames_with_plot(tmp_path: Path) -> None:
    src = _sample(tmp_path / "in.root")
    run = make_frames([src], tmp_path / "lay.root", kind="layered", plot=tmp_path / "l.png")
    read = read_frames(run.output)
    direct = LayeredCaloProducer()(load_events(src, "e2e_gnn"))
    assert read.channel_names == ("CALO",)
    np.testing.assert_array_equal(read.frames.frames, direct.data)


def test_point_clouds_are_written_ragged(tmp_path: Path) -> None:
    src = tmp_path / "pc.root"
    write_and_read(
        src,
        [
            {
                "Track": [{"pt": 5.0, "eta": 0.0, "phi": 0.0}],
                "Hit": [{"eta": 0.01 * k, "phi": 0.0, "energy": 1.0} for k in range(1 + i)],
            }
            for i in range(4)
        ],
    )
    run = make_frames([src], tmp_path / "pc.root.out.root", kind="pointcloud", step_size=2)
    cols = read_columns(run.output)
    assert cols["npoints"].tolist() == [1, 2, 3, 4]
    assert ak.flatten(cols["points_energy"]).tolist() == [1.0] * 10


@pytest.mark.skipif(not NANOAOD.is_file(), reason=NANOAOD_MISSING)
def test_object_graphs_from_real_nanoaod(tmp_path: Path) -> None:
    run = make_frames(
        [NANOAOD], tmp_path / "g.parquet", kind="objects", step_size=64, options={"k": 3}
    )
    read = read_graphs(run.output)
    graphs = read.graphs
    direct = ObjectGraphProducer(k=3)(load_events(NANOAOD, "nanoaod"))
    assert graphs.num_graphs == run.produced == direct.num_graphs
    assert run.dropped == direct.dropped
    np.testing.assert_array_equal(graphs.x, direct.x)
    np.testing.assert_array_equal(graphs.edge_index, direct.edge_index)
    np.testing.assert_array_equal(graphs.batch, direct.batch)
    assert read.feature_names == direct.feature_names
    assert read.columns["event"].tolist() == direct.event.tolist()


def test_refusals(tmp_path: Path) -> None:
    src = tmp_path / "empty.root"
    write_and_read(src, [{"Jet": [{"eta": 2.0, "phi": 0.0}]}, {}])
    with pytest.raises(ValueError, match=r"no jet output from 2 events.*outside_acceptance': 1"):
        make_frames([src], tmp_path / "o.root", kind="jet")
    with pytest.raises(ValueError, match=r"unknown frame kind 'tau'; choose from"):
        make_frames([src], tmp_path / "o.root", kind="tau")
    with pytest.raises(ValueError, match=r"kind 'pointcloud' makes point clouds"):
        make_frames([src], tmp_path / "o.root", kind="pointcloud", plot=tmp_path / "p.png")


def test_frames_command(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from e2e_gnn.frames.cli import frames_command

    src = _sample(tmp_path / "in.root")
    out, png = tmp_path / "f.root", tmp_path / "f.png"
    args = [str(src), "--out", str(out), "--plot", str(png), "--edge", "drop", "--step-size", "4"]
    result = CliRunner().invoke(frames_command, args)
    assert result.exit_code == 0, result.output
    assert "wrote 5 jet outputs from 8 events" in result.output
    assert "outside_acceptance: 1, frame_beyond_acceptance: 2" in result.output
    assert png.is_file()
    assert read_frames(out).frames.frames.shape == (5, 9, 125, 125)
    missing = CliRunner().invoke(frames_command, [str(tmp_path / "nope.root"), "--out", str(out)])
    assert missing.exit_code == 1
    assert "nope.root' does not exist" in missing.output
