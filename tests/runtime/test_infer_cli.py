"""`e2e-gnn infer`: graph files in (.npz, .root, .parquet), scores out, same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from e2e_gnn import GraphBatch, Tagger
from e2e_gnn.cli import main
from e2e_gnn.io import read_columns, write_graphs


@pytest.mark.parametrize(
    ("graph_file", "score_file"), [("g.npz", "s.npz"), ("g.root", "s.root"), ("g.parquet", "s.csv")]
)
def test_infer_round_trip(tagger_export, make_graphs, tmp_path, graph_file, score_file) -> None:
    _, spec, path = tagger_export
    batch = make_graphs([3, 12, 1, 40], spec.num_features, seed=7)
    expected = Tagger(path)(batch)
    names = list(spec.graph.feature_names)
    # columns stored in another order: infer must put them back by name
    order = names[::-1]
    x = batch.x[:, [names.index(n) for n in order]]
    shuffled = GraphBatch(x, batch.edge_index, batch.batch, batch.num_graphs)
    write_graphs(tmp_path / graph_file, shuffled, feature_names=order)
    args = [
        "infer",
        "--model",
        str(path),
        "--graphs",
        str(tmp_path / graph_file),
        "--out",
        str(tmp_path / score_file),
        "--graphs-per-call",
        "3",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "scored 4 graphs" in result.output
    out = tmp_path / score_file
    if out.suffix == ".npz":
        scores = np.load(out)["score"].reshape(-1, 1)
    elif out.suffix == ".csv":
        scores = np.loadtxt(out, delimiter=",", skiprows=1).reshape(-1, 1)
    else:
        scores = np.asarray(read_columns(out)["score"]).reshape(-1, 1)
    np.testing.assert_allclose(scores, expected, atol=1e-6, rtol=0)


def test_infer_refuses_graphs_missing_a_feature(tagger_export, make_graphs, tmp_path) -> None:
    _, spec, path = tagger_export
    batch = make_graphs([5, 6], spec.num_features)
    write_graphs(
        tmp_path / "g.root",
        GraphBatch(batch.x[:, :3], batch.edge_index, batch.batch, 2),
        feature_names=list(spec.graph.feature_names[:3]),
    )
    result = CliRunner().invoke(
        main,
        [
            "infer",
            "--model",
            str(path),
            "--graphs",
            str(tmp_path / "g.root"),
            "--out",
            str(tmp_path / "s.npz"),
        ],
    )
    assert result.exit_code != 0
    assert f"lacks node features ['{spec.graph.feature_names[3]}']" in result.output


def test_infer_refuses_unknown_formats(tagger_export, tmp_path) -> None:
    _, _, path = tagger_export
    (tmp_path / "g.txt").write_text("x")
    result = CliRunner().invoke(
        main,
        [
            "infer",
            "--model",
            str(path),
            "--graphs",
            str(tmp_path / "g.txt"),
            "--out",
            str(tmp_path / "s.npz"),
        ],
    )
    assert result.exit_code != 0
    assert "unsupported file type '.txt'" in result.output
