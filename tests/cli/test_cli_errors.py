"""Every user error of the command line: a non-zero exit and one line naming the file or
option, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from e2e_gnn.cli import main
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.io import write_frames, write_graphs


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result: Result, *expected: str) -> None:
    """Non-zero exit, no traceback, and the error line names everything in ``expected``."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    for text in expected:
        assert text in errors[0], (text, result.output)


@pytest.fixture
def graphs_file(tmp_path: Path, tagger_export) -> Path:
    _, spec, _ = tagger_export
    x = np.random.default_rng(0).random((5, spec.num_features), dtype=np.float32)
    batch = GraphBatch.from_graphs([(x, [[0, 1, 2], [1, 2, 0]]), (x[:2], [[0], [1]])])
    return write_graphs(tmp_path / "g.root", batch, feature_names=spec.graph.feature_names)


def test_infer_missing_model(tmp_path, graphs_file) -> None:
    result = run(
        "infer",
        "--model",
        tmp_path / "nope.onnx",
        "--graphs",
        graphs_file,
        "--out",
        tmp_path / "s.npz",
    )
    assert_one_line_error(result, "--model", "nope.onnx", "does not exist")


def test_infer_model_that_is_not_onnx(tmp_path, graphs_file) -> None:
    (tmp_path / "m.onnx").write_text("not a model\n")
    result = run(
        "infer",
        "--model",
        tmp_path / "m.onnx",
        "--graphs",
        graphs_file,
        "--out",
        tmp_path / "s.npz",
    )
    assert_one_line_error(result, "m.onnx")


def test_infer_frames_file_given_as_graphs(tmp_path, tagger_export) -> None:
    _, _, model = tagger_export
    frames = write_frames(tmp_path / "f.root", np.zeros((2, 1, 4, 4), np.float32), ["ECAL"])
    result = run("infer", "--model", model, "--graphs", frames, "--out", tmp_path / "s.npz")
    assert_one_line_error(result, "f.root", "not a graph file", "a frames file")


def test_infer_truncated_graph_file(tmp_path, tagger_export) -> None:
    _, spec, model = tagger_export
    rng = np.random.default_rng(0)
    graphs = [(rng.random((30, spec.num_features), dtype=np.float32), [[0], [1]])] * 100
    path = write_graphs(
        tmp_path / "g.root", GraphBatch.from_graphs(graphs), feature_names=spec.graph.feature_names
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # uproot said "OSError: expected Chunk of length"
    result = run("infer", "--model", model, "--graphs", path, "--out", tmp_path / "s.npz")
    assert_one_line_error(result, "g.root", "truncated")


def test_infer_graph_file_with_an_edge_outside_its_graph(tmp_path, tagger_export) -> None:
    import awkward as ak

    from e2e_gnn.io import write_columns

    _, spec, model = tagger_export
    nodes = ak.zip({name: ak.Array([[0.5] * 7, [1.0, 2.0]]) for name in spec.graph.feature_names})
    edges = ak.zip({"src": ak.Array([[7], [0]]), "dst": ak.Array([[8], [1]])})
    path = write_columns(tmp_path / "g.root", {"Node": nodes, "Edge": edges})
    result = run("infer", "--model", model, "--graphs", path, "--out", tmp_path / "s.npz")
    assert_one_line_error(result, "g.root", "entry 0", "'Edge_src' has 7")


def test_infer_triton_without_server(tmp_path, tagger_export, graphs_file) -> None:
    pytest.importorskip("tritonclient")
    _, _, model = tagger_export
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--graphs", graphs_file, "--out", tmp_path / "s.npz", "--url", f"127.0.0.1:{port}"]
    result = run("infer", "--model", model, "--backend", "triton", *args)
    assert_one_line_error(result, f"127.0.0.1:{port}")


def test_infer_per_call_zero(tmp_path, tagger_export, graphs_file) -> None:
    _, _, model = tagger_export
    args = ["--graphs", graphs_file, "--out", tmp_path / "s.npz", "--per-call", "0"]
    assert_one_line_error(run("infer", "--model", model, *args), "--per-call", "0")


def test_inspect_file_that_is_not_onnx(tmp_path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"\x08\x01garbage")
    assert_one_line_error(run("inspect", tmp_path / "m.onnx"), "m.onnx", "ONNX")


def _checkpoint(tmp_path: Path, name: str, content: object) -> Path:
    torch = pytest.importorskip("torch")
    torch.save(content, tmp_path / name)
    return tmp_path / name


def test_export_onnx_on_a_pickled_model(tmp_path) -> None:
    pytest.importorskip("torch")
    from e2e_gnn.nn.models import EdgeConvTagger

    path = _checkpoint(tmp_path, "model.pt", EdgeConvTagger(4, hidden=8, num_layers=1))
    result = run("export-onnx", "--checkpoint", path, "--out", tmp_path / "m.onnx")
    assert_one_line_error(result, "model.pt", "not an e2e_gnn checkpoint")
    assert "weights_only" not in result.output


def test_export_onnx_on_a_checkpoint_that_is_not_a_dict(tmp_path) -> None:
    path = _checkpoint(tmp_path, "list.pt", [1, 2, 3])
    result = run("export-onnx", "--checkpoint", path, "--out", tmp_path / "m.onnx")
    assert_one_line_error(result, "list.pt", "holds a list, not an e2e_gnn checkpoint")


def test_export_onnx_on_an_unknown_hyperparameter(tmp_path) -> None:
    pytest.importorskip("torch")
    from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
    from e2e_gnn.nn.models import EdgeConvTagger
    from e2e_gnn.train.checkpoint import save_checkpoint

    model = EdgeConvTagger(4, hidden=8, num_layers=1)
    model.hyperparameters["depth"] = 3
    save_checkpoint(tmp_path / "c.pt", model, "EdgeConvTagger", TOY_GRAPH_SPEC, {})
    result = run("export-onnx", "--checkpoint", tmp_path / "c.pt", "--out", tmp_path / "m.onnx")
    assert_one_line_error(result, "c.pt", "EdgeConvTagger takes no hyperparameter(s) ['depth']")
