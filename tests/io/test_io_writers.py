"""Frames, graphs and scores written to ROOT and parquet read back unchanged."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from e2e_gnn.io import (
    ColumnWriter,
    read_columns,
    read_frames,
    read_graphs,
    write_columns,
    write_frames,
    write_graphs,
    write_scores,
)

SUFFIXES = [".root", ".parquet"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_frames_round_trip(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(1)
    frames = rng.random((5, 3, 8, 8), dtype=np.float32)
    labels = np.array([0, 1, 1, 0, -1], dtype=np.int32)
    path = write_frames(tmp_path / f"f{suffix}", frames, ["ECAL", "HCAL", "TRK_PT"], label=labels)
    back, names, rest = read_frames(path)
    assert names == ["ECAL", "HCAL", "TRK_PT"]
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, frames)  # exact: float32 stored as float32
    assert rest["label"].tolist() == labels.tolist()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_layered_frames_round_trip(tmp_path: Path, suffix: str) -> None:
    frames = np.arange(2 * 1 * 6 * 3 * 3, dtype=np.float32).reshape(2, 1, 6, 3, 3)
    back, names, _ = read_frames(write_frames(tmp_path / f"l{suffix}", frames, ["CALO"]))
    assert names == ["CALO"]
    np.testing.assert_array_equal(back, frames)


def test_root_frames_are_a_ttree_with_one_branch_per_channel(tmp_path: Path) -> None:
    frames = np.zeros((2, 2, 4, 4), dtype=np.float32)
    frames[1, 0, 2, 3] = 7.0
    path = write_frames(tmp_path / "f.root", frames, ["ECAL", "HCAL"])
    tree = uproot.open(path)["Events"]
    assert tree.classname == "TTree"
    assert set(tree.keys()) == {"frame_ECAL", "frame_HCAL"}
    assert tree["frame_ECAL"].array(library="np")[1, 2, 3] == 7.0


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_graphs_round_trip_with_empty_and_isolated(tmp_path: Path, suffix: str) -> None:
    # graph 0: 3 nodes, 2 edges; graph 1: empty; graph 2: 2 isolated nodes (E = 0)
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    batch = np.array([0, 0, 0, 2, 2])
    edge_index = np.array([[1, 2], [0, 0]])
    path = write_graphs(
        tmp_path / f"g{suffix}",
        x,
        edge_index,
        batch,
        3,
        feature_names=["eta", "phi"],
        event=np.array([7, 8, 9]),
    )
    x2, e2, b2, n2, names, rest = read_graphs(path)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(e2, edge_index)
    np.testing.assert_array_equal(b2, batch)
    assert (n2, names, rest["event"].tolist()) == (3, ["eta", "phi"], [7, 8, 9])
    assert e2.dtype == b2.dtype == np.int64


def test_graph_edges_are_stored_per_graph_with_local_indices(tmp_path: Path) -> None:
    x = np.zeros((4, 1), dtype=np.float32)
    batch = np.array([0, 0, 1, 1])
    edge_index = np.array([[3, 0], [2, 1]])  # graph 1's edge listed first
    cols = read_columns(write_graphs(tmp_path / "g.root", x, edge_index, batch, 2))
    assert cols["Edge_src"].tolist() == [[0], [1]]
    assert cols["Edge_dst"].tolist() == [[1], [0]]
    assert cols["nNode"].tolist() == [2, 2]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_scores(tmp_path: Path, suffix: str) -> None:
    scores = np.array([[0.1, 0.9], [0.7, 0.3]], dtype=np.float32)
    cols = read_columns(write_scores(tmp_path / f"s{suffix}", scores, event=np.array([3, 4])))
    np.testing.assert_array_equal(ak.to_numpy(cols["score"]), scores)
    assert cols["event"].tolist() == [3, 4]


def test_writer_refusals(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"suffix must be one of \('\.root', '\.parquet'\)"):
        write_scores(tmp_path / "s.h5", np.zeros(3))
    with pytest.raises(ValueError, match=r"differ in length: \{'a': 2, 'b': 3\}"):
        write_columns(tmp_path / "c.root", {"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ValueError, match=r"do not match 2 channel names"):
        write_frames(tmp_path / "f.root", np.zeros((1, 3, 4, 4), np.float32), ["A", "B"])
    with pytest.raises(ValueError, match=r"expected x \[N, F\], edge_index \[2, E\]"):
        write_graphs(tmp_path / "g.root", np.zeros((3, 2)), np.zeros((3, 1)), np.zeros(3), 1)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_column_writer_appends_chunks(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"chunks{suffix}"
    with ColumnWriter(path) as w:
        for start in (0, 3):
            w.write(
                {
                    "event": np.arange(start, start + 3),
                    "points": ak.zip({"e": ak.Array([[1.0] * (start + i) for i in range(3)])}),
                    "frame": np.full((3, 2, 2), start, dtype=np.float32),
                }
            )
        with pytest.raises(ValueError, match=r"has columns \['event'\], the first chunk had"):
            w.write({"event": np.arange(2)})
    assert w.rows == 6
    cols = read_columns(path)
    assert cols["event"].tolist() == [0, 1, 2, 3, 4, 5]
    counts = [0, 1, 2, 3, 4, 5]
    if suffix == ".root":
        assert cols["npoints"].tolist() == counts
    else:
        assert ak.num(cols["points"]).tolist() == counts
    assert ak.to_numpy(cols["frame"])[:, 0, 0].tolist() == [0, 0, 0, 3, 3, 3]
