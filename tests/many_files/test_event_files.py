"""Event files in: the producer the model's spec names makes its graphs, chunk by chunk, and
the scores equal those of the graph file `e2e-gnn frames` writes from the same events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from e2e_gnn import Tagger, infer_files
from e2e_gnn.cli import main
from e2e_gnn.frames.run import make_frames
from e2e_gnn.io import read_columns, read_graphs

NANOAOD = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
)
pytestmark = pytest.mark.skipif(
    not NANOAOD.is_file(),
    reason=f"real CMS Open Data NanoAOD file not found at {NANOAOD} (see ../shared/data/README.md)",
)


def test_nanoaod_events_score_as_their_object_graph_file(
    object_tagger: Path, tmp_path: Path
) -> None:
    graphs = make_frames([NANOAOD], tmp_path / "objects.root", kind="objects", options={"k": 4})
    assert graphs.produced > 100
    graph_file = read_graphs(tmp_path / "objects.root")
    with Tagger(object_tagger, backend="native") as tagger:
        expected = tagger.score(graph_file.graphs)[:, 0]
    # chunks of 64 events: graphs, rows and event numbers continue across chunks
    summary = infer_files(
        object_tagger, [NANOAOD], tmp_path / "out", schema="nanoaod", step_size=64, workers=1
    )
    assert summary.ok, summary.lines()
    out = read_columns(tmp_path / "out" / f"{NANOAOD.stem}.parquet")
    assert out["row"].to_list() == list(range(graphs.produced))
    np.testing.assert_array_equal(out["event"].to_numpy(), graph_file.columns["event"])
    # one call per 64-event chunk vs one call for the file: batch composition may move the
    # last bits of the matrix products
    np.testing.assert_allclose(out["score"].to_numpy(), expected, rtol=0, atol=1e-6)


def test_a_model_without_a_producer_refuses_event_files(tagger_export, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "infer",
            "--model",
            str(tagger_export[2]),
            str(NANOAOD),
            "--schema",
            "nanoaod",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1
    assert "does not say how its inputs are made from events" in result.output
