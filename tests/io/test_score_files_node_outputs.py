"""Per-node outputs in score files and `e2e-gnn infer`: jagged columns next to node_index
and the ids, joined back to the input graph file with the line shown in docs/node_outputs.md."""

from __future__ import annotations

import re
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from click.testing import CliRunner

from e2e_gnn import Tagger
from e2e_gnn.cli import main
from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.io import write_graphs, write_scores
from e2e_gnn.ragged import Ragged
from e2e_gnn.runtime.many_files import infer_files

DOC = Path(__file__).resolve().parents[2] / "docs" / "node_outputs.md"
SIZES = [3, 1, 12, 1, 7]


def _doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)


def _read(path: Path) -> ak.Array:
    """A file read with its own library, not with e2e_gnn."""
    if path.suffix == ".root":
        return uproot.open(path)["Events"].arrays()
    return ak.from_parquet(path)


@pytest.mark.parametrize("suffix", [".parquet", ".root"])
def test_node_outputs_are_jagged_columns_next_to_node_index(tmp_path, suffix) -> None:
    values = np.arange(12, dtype=np.float32).reshape(6, 2)
    fraction = Ragged(values, np.array([0, 1, 1, 6]))  # a graph of no node rows is kept
    total = np.array([[0.5], [1.5], [2.5]], dtype=np.float32)
    event = np.array([7, 8, 9])
    path = write_scores(
        tmp_path / f"s{suffix}", {"fraction": fraction, "total": total}, event=event
    )
    back = _read(path)
    assert {"fraction_0", "fraction_1", "node_index", "total", "event"} <= set(back.fields)
    assert ak.to_list(back.fraction_1) == [[1.0], [], [3.0, 5.0, 7.0, 9.0, 11.0]]
    assert ak.to_list(back.node_index) == [[0], [], [0, 1, 2, 3, 4]]
    assert ak.to_list(back.total) == [0.5, 1.5, 2.5] and ak.to_list(back.event) == [7, 8, 9]


def test_node_outputs_are_refused_where_columns_cannot_be_jagged(tmp_path) -> None:
    fraction = Ragged(np.zeros((3, 1), np.float32), np.array([0, 2, 3]))
    for suffix in (".npz", ".csv"):
        with pytest.raises(
            ValueError, match=r"per-node outputs are written to \.root or \.parquet"
        ):
            write_scores(tmp_path / f"s{suffix}", {"fraction": fraction})
        assert not (tmp_path / f"s{suffix}").exists()
    with pytest.raises(ValueError, match=r"extra columns \['node_index'\] clash"):
        write_scores(tmp_path / "s.root", {"f": fraction}, node_index=np.zeros(2))
    with pytest.raises(ValueError, match="outputs have different numbers of rows"):
        write_scores(tmp_path / "s.root", {"f": fraction, "g": np.zeros(3, np.float32)})


def _graph_file(spec, path: Path) -> tuple:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(sum(SIZES), spec.num_features)).astype(np.float32)
    u = rng.normal(size=(len(SIZES), spec.num_graph_features)).astype(np.float32)
    graphs = graphs_from_spec(x, np.cumsum([0, *SIZES]), spec.graph, u=u)
    write_graphs(
        path,
        graphs,
        feature_names=spec.graph.feature_names,
        graph_feature_names=spec.graph.graph_feature_names,
        event=np.arange(100, 100 + len(SIZES)),
    )
    return graphs


@pytest.mark.parametrize("suffix", [".parquet", ".root"])
def test_infer_writes_node_outputs_that_the_documented_line_joins_back(
    node_export, tmp_path, monkeypatch, suffix
) -> None:
    _, spec, model = node_export
    graphs = _graph_file(spec, tmp_path / f"graphs{suffix}")
    expected = Tagger(model, backend="onnxruntime").outputs(graphs)
    args = ["infer", "--model", str(model), "--graphs", f"graphs{suffix}"]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*args, "--out", f"scores{suffix}", "--per-call", "2"])
    assert result.exit_code == 0, result.output
    assert "scored 5 graphs" in result.output
    scores = _read(tmp_path / f"scores{suffix}")
    assert ak.to_list(ak.num(scores.node_out_0)) == SIZES
    assert ak.to_list(scores.event) == list(range(100, 105))
    np.testing.assert_allclose(scores.graph_out.to_numpy(), expected["graph_out"][:, 0], atol=1e-6)
    found: dict[str, object] = {}
    if suffix == ".parquet":  # the documented block, as a user pastes it
        exec(next(b for b in _doc_blocks() if "ak.from_parquet" in b), found)
    else:
        line = next(b for b in _doc_blocks() if "Node_deta" in b)
        exec(line, {"ak": ak, "graphs": _read(tmp_path / "graphs.root"), "scores": scores}, found)
    nodes = found["nodes"]
    assert ak.to_list(ak.num(nodes)) == SIZES
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(nodes.node_out_0)), expected["node_out"].values[:, 0], atol=1e-6
    )
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(nodes.deta)), graphs.x[:, 0])


def test_infer_many_files_write_node_outputs_with_row_and_file(node_export, tmp_path) -> None:
    _, spec, model = node_export
    graphs = _graph_file(spec, tmp_path / "a.parquet")
    summary = infer_files(model, [tmp_path / "a.parquet"], tmp_path / "out", workers=1)
    assert summary.ok and summary.rows == len(SIZES), summary.lines()
    scores = ak.from_parquet(tmp_path / "out" / "a.parquet")
    inputs = ak.from_parquet(tmp_path / "a.parquet")
    nodes = ak.with_field(
        inputs.Node[scores.row][scores.node_index], scores.node_out_1, "node_out_1"
    )
    expected = Tagger(model, backend="onnxruntime").outputs(graphs)["node_out"]
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(nodes.node_out_1)), expected.values[:, 1], atol=1e-6
    )
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(nodes.dphi)), graphs.x[:, 1])
    again = infer_files(model, [tmp_path / "a.parquet"], tmp_path / "out", workers=1)
    assert again.skipped == 1  # a complete node-output file is recognised on a re-run
