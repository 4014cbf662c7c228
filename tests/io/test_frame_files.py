"""Frames files: frames with named channels and per-frame columns, read back unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.io import EmptyTreeError, FileContentError, read_frames, write_frames, write_graphs

SUFFIXES = [".root", ".parquet"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_frames_round_trip(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(1)
    frames = rng.random((5, 3, 8, 8), dtype=np.float32)
    labels = np.array([0, 1, 1, 0, -1], dtype=np.int32)
    path = write_frames(
        tmp_path / f"f{suffix}", frames, ["ECAL", "HCAL", "TRK_PT"], label=labels, event=[4] * 5
    )
    read = read_frames(path)
    assert read.channel_names == ("ECAL", "HCAL", "TRK_PT")
    assert read.frames.frames.dtype == np.float32
    np.testing.assert_array_equal(read.frames.frames, frames)  # exact: float32 stored as float32
    np.testing.assert_array_equal(read.frames.y, labels)
    assert read.columns["label"].tolist() == labels.tolist()
    assert read.columns["event"].tolist() == [4] * 5


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_layered_frames_round_trip(tmp_path: Path, suffix: str) -> None:
    frames = np.arange(2 * 1 * 6 * 3 * 3, dtype=np.float32).reshape(2, 1, 6, 3, 3)
    read = read_frames(write_frames(tmp_path / f"l{suffix}", frames, ["CALO"]))
    assert read.channel_names == ("CALO",)
    np.testing.assert_array_equal(read.frames.frames, frames)


def test_channels_come_in_the_order_asked_for(tmp_path: Path) -> None:
    frames = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    path = write_frames(tmp_path / "f.root", frames, ["A", "B", "C"])
    read = read_frames(path, channels=["C", "A"])
    np.testing.assert_array_equal(read.frames.frames, frames[:, [2, 0]])
    assert read.channel_names == ("C", "A")
    with pytest.raises(FileContentError, match=r"lacks channels \['D'\] the model needs"):
        read_frames(path, channels=["A", "D"])


def test_root_frames_are_a_ttree_with_one_branch_per_channel(tmp_path: Path) -> None:
    frames = np.zeros((2, 2, 4, 4), dtype=np.float32)
    frames[1, 0, 2, 3] = 7.0
    path = write_frames(tmp_path / "f.root", frames, ["ECAL", "HCAL"])
    tree = uproot.open(path)["Events"]
    assert tree.classname == "TTree"
    assert set(tree.keys()) == {"frame_ECAL", "frame_HCAL"}
    assert tree["frame_ECAL"].array(library="np")[1, 2, 3] == 7.0


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"do not match 2 channel names"):
        write_frames(tmp_path / "f.root", np.zeros((1, 3, 4, 4), np.float32), ["A", "B"])
    graphs = GraphBatch(np.ones((2, 1), "f4"), np.zeros((2, 0), "i8"), np.zeros(2, "i8"), 1)
    with pytest.raises(FileContentError, match=r"Node/Edge columns: a graph file"):
        read_frames(write_graphs(tmp_path / "g.root", graphs))
    with uproot.recreate(tmp_path / "ints.root") as f:
        f.mktree("Events", {"frame_A": np.ones((2, 3, 3), np.int32)})
    with pytest.raises(FileContentError, match=r"'frame_A' is int32 \[2, 3, 3\], expected floats"):
        read_frames(tmp_path / "ints.root")
    path = write_frames(tmp_path / "e.root", np.zeros((0, 1, 2, 2), np.float32), ["A"])
    with pytest.raises(EmptyTreeError, match=r"e\.root' holds no frames"):
        read_frames(path)
