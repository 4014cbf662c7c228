"""Reading frames files for training, the split by event, and the errors of `e2e-gnn train`
for inputs it cannot train on."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from _train_frames import CHANNELS, toy_frames, write_toy_frames
from click.testing import CliRunner

from e2e_gnn.cli import main
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.io import write_columns, write_frames, write_graphs
from e2e_gnn.train.data import read_labelled_frames, split_by_event


@pytest.fixture(scope="module")
def frames_file(tmp_path_factory):
    return write_toy_frames(tmp_path_factory.mktemp("frames") / "frames.root", num_frames=120)


def test_unlabelled_frames_are_skipped(frames_file) -> None:
    frames, unlabelled = read_labelled_frames([frames_file])
    assert (len(frames), unlabelled) == (108, 12)
    assert set(np.unique(frames.label)) == {0.0, 1.0}
    assert frames.channel_names == CHANNELS


def test_split_is_by_event_and_seeded(frames_file) -> None:
    frames, _ = read_labelled_frames([frames_file])
    training, validation = split_by_event(frames, 0.3, seed=0)
    assert len(training) + len(validation) == len(frames)
    assert not set(training.event.tolist()) & set(validation.event.tolist())
    events = len(np.unique(frames.event))
    assert len(np.unique(validation.event)) == int(events * 0.3)
    again = split_by_event(frames, 0.3, seed=0)[1]
    other = split_by_event(frames, 0.3, seed=1)[1]
    assert np.array_equal(again.event, validation.event)
    assert not np.array_equal(other.event, validation.event)


def test_events_of_different_files_are_different_events(frames_file, tmp_path) -> None:
    """Both files number their events from 0: frames of event 0 of each file need not go
    to the same side of the split."""
    frames, _ = read_labelled_frames([frames_file, frames_file])
    single, _ = read_labelled_frames([frames_file])
    assert len(frames) == 2 * len(single)
    assert len(np.unique(frames.event)) == 2 * len(np.unique(single.event))


def _train(*args: str):
    return CliRunner().invoke(main, ["train", *args])


def test_missing_file(tmp_path) -> None:
    result = _train(str(tmp_path / "nope.root"), "--out", str(tmp_path / "run"))
    assert result.exit_code != 0
    assert "nope.root' does not exist" in result.output
    assert "e2e-gnn frames" in result.output


def test_graph_file_is_not_a_frames_file(tmp_path) -> None:
    x = np.ones((5, 4), np.float32)
    edge_index = np.array([[0, 1, 2], [1, 2, 3]])
    graphs = write_graphs(tmp_path / "graphs.root", GraphBatch(x, edge_index, np.zeros(5, "i8"), 1))
    result = _train(str(graphs), "--out", str(tmp_path / "run"))
    assert result.exit_code != 0
    assert "graphs.root' is not a frames file" in result.output
    assert "frame_<channel>" in result.output


def test_event_file_is_not_a_frames_file(tmp_path) -> None:
    """A file like the generator's: an Events tree of jagged hits, no frame columns."""
    hits = ak.Array([[{"energy": 1.0, "eta": 0.1}], [], [{"energy": 2.0, "eta": -0.2}]])
    events = write_columns(tmp_path / "events.root", {"event": np.arange(3), "Hit": hits})
    result = _train(str(events), "--out", str(tmp_path / "run"))
    assert result.exit_code != 0
    assert "events.root' is not a frames file" in result.output


def test_other_suffix_is_not_a_frames_file(tmp_path) -> None:
    path = tmp_path / "graphs.npz"
    path.write_bytes(b"")
    result = _train(str(path), "--out", str(tmp_path / "run"))
    assert result.exit_code != 0
    assert "graphs.npz' is not a frames file (suffix '.npz')" in result.output


def _write(path, num_frames: int = 40, label=None, channels=CHANNELS):
    frames, labels, event = toy_frames(num_frames)
    labels = labels if label is None else np.full(num_frames, label, np.int32)
    return write_frames(path, frames[:, : len(channels)], channels, label=labels, event=event)


def test_no_labelled_frames(tmp_path) -> None:
    result = _train(str(_write(tmp_path / "f.root", label=-1)), "--out", str(tmp_path / "run"))
    assert result.exit_code != 0
    assert "no labelled frames in" in result.output and "f.root" in result.output
    assert "all 40 have label < 0" in result.output


def test_one_class(tmp_path) -> None:
    result = _train(str(_write(tmp_path / "f.root", label=1)), "--out", str(tmp_path / "run"))
    assert result.exit_code != 0
    assert "all 40 labelled frames" in result.output
    assert "have label 1: training needs both classes" in result.output


def test_files_with_different_channels(tmp_path) -> None:
    first = _write(tmp_path / "a.root")
    second = _write(tmp_path / "b.root", channels=("ECAL", "HCAL"))
    result = _train(str(first), str(second), "--out", str(tmp_path / "run"))
    assert result.exit_code != 0
    assert "b.root' holds frames ['ECAL', 'HCAL']" in result.output
    assert "with the same channels" in result.output


def test_unknown_model_kind(frames_file, tmp_path) -> None:
    result = _train(str(frames_file), "--out", str(tmp_path / "run"), "--model", "edgeconv,gcn")
    assert result.exit_code == 2
    assert "unknown model kind(s) ['gcn']" in result.output


def test_layered_frames_train_the_gnn_not_the_cnn(tmp_path) -> None:
    frames, labels, event = toy_frames(60)
    layered = np.stack([frames[:, 0], frames[:, 1]], axis=1)[:, None, :, :16, :16]
    path = write_frames(tmp_path / "layered.root", layered, ("CALO",), label=labels, event=event)
    result = _train(str(path), "--out", str(tmp_path / "run"), "--model", "cnn")
    assert result.exit_code != 0
    assert "the cnn model takes frames [B, C, H, W], these are layered" in result.output
    assert "train them with cnn3d, arma or edgeconv" in result.output
    out = tmp_path / "gnn"
    result = _train(str(path), "--out", str(out), "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert (out / "edgeconv.pt").is_file()
