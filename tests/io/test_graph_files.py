"""Graph files (.root, .parquet, .npz): a GraphBatch with named features and per-graph
columns, read back unchanged; malformed files refused naming the file, entry and branch."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.io import (
    EmptyTreeError,
    FileContentError,
    InputFileError,
    read_columns,
    read_graphs,
    write_frames,
    write_graphs,
)

SUFFIXES = [".root", ".parquet", ".npz"]


def three_graphs() -> GraphBatch:
    """3, 1 and 2 nodes; graph 1 has no edge, graph 2 a self loop and a duplicate edge."""
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    edge_index = np.array([[1, 2, 0, 5, 5, 4], [0, 0, 2, 5, 4, 5]])
    return GraphBatch(x, edge_index, np.array([0, 0, 0, 1, 2, 2]), 3, np.array([1, 0, 1], "f4"))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_with_ids_and_labels(tmp_path: Path, suffix: str) -> None:
    graphs = three_graphs()
    event = np.array([10**12 + 7, 8, 9], dtype=np.int64)
    path = write_graphs(
        tmp_path / f"g{suffix}", graphs, feature_names=["eta", "phi"], event=event, index=[0, 2, 1]
    )
    read = read_graphs(path)
    np.testing.assert_array_equal(read.graphs.x, graphs.x)
    np.testing.assert_array_equal(read.graphs.edge_index, graphs.edge_index)
    np.testing.assert_array_equal(read.graphs.batch, graphs.batch)
    np.testing.assert_array_equal(read.graphs.y, [1, 0, 1])
    assert read.graphs.num_graphs == 3
    assert read.graphs.x.dtype == np.float32 and read.graphs.edge_index.dtype == np.int64
    assert read.feature_names == ("eta", "phi")
    assert sorted(read.columns) == ["event", "index", "label"]
    assert read.columns["event"].tolist() == event.tolist()
    assert read.columns["index"].tolist() == [0, 2, 1]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_features_come_in_the_order_asked_for(tmp_path: Path, suffix: str) -> None:
    path = write_graphs(tmp_path / f"g{suffix}", three_graphs(), feature_names=["eta", "phi"])
    read = read_graphs(path, feature_names=["phi", "eta"])
    np.testing.assert_array_equal(read.graphs.x, three_graphs().x[:, ::-1])
    assert read.feature_names == ("phi", "eta")
    with pytest.raises(FileContentError, match=r"lacks node features \['energy'\] the model"):
        read_graphs(path, feature_names=["eta", "energy"])


def test_root_layout_has_local_edge_indices(tmp_path: Path) -> None:
    cols = read_columns(write_graphs(tmp_path / "g.root", three_graphs()))
    assert cols["Edge_src"].tolist() == [[1, 2, 0], [], [1, 1, 0]]
    assert cols["Edge_dst"].tolist() == [[0, 0, 2], [], [1, 0, 1]]
    assert cols["nNode"].tolist() == [3, 1, 2]
    assert cols["Node_x0"].tolist() == [[0, 2, 4], [6], [8, 10]]


def test_writer_refuses_graphs_breaking_the_contract(tmp_path: Path) -> None:
    crossing = GraphBatch(np.zeros((4, 1), "f4"), np.array([[0], [3]]), np.array([0, 0, 1, 1]), 2)
    for suffix in (".root", ".npz"):
        with pytest.raises(ValueError, match=r"connects node 0 \(graph 0\) to node 3"):
            write_graphs(tmp_path / f"g{suffix}", crossing)
    with pytest.raises(ValueError, match=r"column 'event' has shape \[2\], expected .* \[3\]"):
        write_graphs(tmp_path / "g.root", three_graphs(), event=np.arange(2))
    with pytest.raises(ValueError, match=r"unsupported file type '\.h5'"):
        write_graphs(tmp_path / "g.h5", three_graphs())


def _tree(path: Path, branches: dict) -> Path:
    with uproot.recreate(path) as f:
        f.mktree("Events", branches)
    return path


def _jagged(values: list[list], dtype: str) -> ak.Array:
    counts = np.array([len(r) for r in values], dtype=np.int64)
    return ak.unflatten(np.array([v for row in values for v in row], dtype), counts)


def _graph_tree(path: Path, src: list[list], dst: list[list], **override: ak.Array) -> Path:
    """Two graphs of 7 and 2 nodes in the ROOT layout; ``override`` replaces branches."""
    branches = {
        "Node": ak.zip({"a": _jagged([[0.5] * 7, [1.0, 2.0]], "f4")}),
        "Edge": ak.zip({"src": _jagged(src, "i8"), "dst": _jagged(dst, "i8")}),
    }
    branches.update(override)
    return _tree(path, branches)


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        # (7, 8) in the 7-node graph used to land in graph 1
        ([[0, 7], [0]], [[1, 8], [1]], r"entry 0: branch 'Edge_src' has 7 at edge 1, outside"),
        ([[0], [-1]], [[1], [-1]], r"entry 1: branch 'Edge_src' has -1 at edge 0, outside"),
        (
            [[0], [0]],
            [[1], [2]],
            r"entry 1: branch 'Edge_dst' has 2 at edge 0, outside the graph's 2",
        ),
    ],
)
def test_edges_outside_their_graph_are_refused(tmp_path, src, dst, message) -> None:
    path = _graph_tree(tmp_path / "g.root", src, dst)
    with pytest.raises(FileContentError, match=message) as err:
        read_graphs(path)
    assert "g.root" in str(err.value)


def test_edges_outside_their_graph_in_parquet(tmp_path: Path) -> None:
    from e2e_gnn.io import write_columns

    node = ak.zip({"a": _jagged([[0.5] * 7, [1.0, 2.0]], "f4")})
    edge = ak.zip({"src": _jagged([[7], [0]], "i8"), "dst": _jagged([[8], [1]], "i8")})
    path = write_columns(tmp_path / "g.parquet", {"Node": node, "Edge": edge})
    with pytest.raises(FileContentError, match=r"g\.parquet'?, row 0: branch 'Edge.src' has 7"):
        read_graphs(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {
                "Edge": ak.zip(
                    {"src": _jagged([[0.7], [0.0]], "f4"), "dst": _jagged([[1], [1]], "i8")}
                )
            },
            r"branch 'Edge_src' is float32, expected integer node indices",
        ),
        (
            {"Node": ak.zip({"a": _jagged([[1] * 7, [1, 2]], "i4")})},
            r"'Node_a' is int32, expected floats",
        ),
        (
            {"Node": ak.zip({"a": _jagged([[True] * 7, [True, False]], "?")})},
            r"'Node_a' is bool, expected floats",
        ),
        (
            {"Node": ak.zip({"a": _jagged([[1.0] * 7, []], "f4")})},
            r"entry 1: the graph has no nodes",
        ),
    ],
)
def test_wrong_types_and_empty_graphs_are_refused(tmp_path, override, message) -> None:
    path = _graph_tree(tmp_path / "g.root", [[0], [0]], [[1], [1]], **override)
    with pytest.raises(FileContentError, match=message):
        read_graphs(path)


def test_flat_missing_and_empty_branches(tmp_path: Path) -> None:
    flat = _tree(
        tmp_path / "flat.root",
        {
            "Node_a": np.ones(2, "f4"),
            "Edge": ak.zip({"src": _jagged([[0], [0]], "i8"), "dst": _jagged([[0], [0]], "i8")}),
        },
    )
    with pytest.raises(FileContentError, match=r"branch 'Node_a' holds one number per entry"):
        read_graphs(flat)
    no_edges = _tree(tmp_path / "no_edges.root", {"Node": ak.zip({"a": _jagged([[1.0]], "f4")})})
    with pytest.raises(
        FileContentError, match=r"not a graph file: it needs jagged Node_<feature>, Edge_src"
    ):
        read_graphs(no_edges)
    frames = write_frames(tmp_path / "frames.root", np.zeros((2, 1, 3, 3), "f4"), ["ECAL"])
    with pytest.raises(FileContentError, match=r"frame_<channel> columns: a frames file"):
        read_graphs(frames)
    empty = _graph_tree(tmp_path / "empty.root", [], [], Node=ak.zip({"a": _jagged([], "f4")}))
    with pytest.raises(EmptyTreeError, match=r"empty\.root' has no entries"):
        read_graphs(empty)


def test_npz_refusals(tmp_path: Path) -> None:
    x = np.ones((3, 2), np.float32)
    cases = {
        "float_edges": (
            {"x": x, "edge_index": np.array([[0.0], [1.5]]), "batch": np.zeros(3, int)},
            r"'edge_index' .* is float64, expected integers",
        ),
        "wide_batch": (
            {"x": x, "edge_index": np.zeros((2, 0), int), "batch": np.array([0, 0, 200_000_000])},
            r"'batch' goes from graph 0 to 200000000",
        ),
        "not_graphs": (
            {"scores": np.zeros(3)},
            r"not a graph file: it lacks the arrays \['x', 'edge_index', 'batch'\]",
        ),
        "edges_rows": (
            {"x": x, "edge_index": np.zeros((4, 2), int), "batch": np.zeros(3, int)},
            r"edge_index \[4, 2\]",
        ),
    }
    for name, (arrays, message) in cases.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(InputFileError, match=message):
            read_graphs(tmp_path / f"{name}.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match=r"cannot read graph file '.*bad\.npz'"):
        read_graphs(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_graphs(tmp_path / "missing.npz")
