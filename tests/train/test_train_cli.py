"""`e2e-gnn train` end to end on a toy frames file: outputs, metrics, export of both models
and their scores in ONNX Runtime against torch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _train_frames import CHANNELS, write_toy_frames
from click.testing import CliRunner

from e2e_gnn import Tagger
from e2e_gnn.cli import main
from e2e_gnn.io import read_frames, read_graphs
from e2e_gnn.train import load_checkpoint

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Both models trained for 2 epochs on 200 toy frames: (CLI result, output directory)."""
    tmp = tmp_path_factory.mktemp("train")
    frames = write_toy_frames(tmp / "frames.root")
    out = tmp / "run"
    args = ["train", str(frames), "--out", str(out), "--model", "edgeconv,cnn", "--epochs", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result, out, frames


def test_writes_checkpoints_plots_and_metrics(trained) -> None:
    result, out, _ = trained
    for name in ("edgeconv.pt", "cnn.pt", "metrics.json", "validation_graphs.root"):
        assert (out / name).is_file(), name
    for plot in ("roc.png", "loss.png"):
        assert (out / plot).read_bytes()[:8] == PNG_SIGNATURE
    assert "skipped 20 unlabelled" in result.output
    assert f"e2e-gnn export-onnx --checkpoint {out / 'cnn.pt'}" in result.output

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["channels"] == list(CHANNELS)
    assert metrics["frame_shape"] == [3, 32, 32]
    assert list(metrics["models"]) == ["edgeconv", "cnn"]
    for kind, model in metrics["models"].items():
        # 53 validation frames: random scores reach 0.75 with a probability below 1e-3
        assert model["validation_auc"] > 0.75, kind
        assert model["validation_auc"] == model["validation_auc_per_epoch"][-1]
        assert len(model["loss_per_epoch"]["training"]) == 2
        assert len(model["loss_per_epoch"]["validation"]) == 2
        assert model["training"]["frames"] + model["validation"]["frames"] == 180
        assert 0 < model["validation"]["signal"] < model["validation"]["frames"]
        assert model["settings"]["epochs"] == 2
        assert model["seconds"] > 0
    assert "knn" in metrics["models"]["edgeconv"]["settings"]
    assert "width" in metrics["models"]["cnn"]["settings"]
    assert "knn" not in metrics["models"]["cnn"]["settings"]


def _export(checkpoint, onnx_path) -> None:
    args = ["export-onnx", "--checkpoint", str(checkpoint), "--out", str(onnx_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def test_edgeconv_exports_and_scores_like_torch(trained, tmp_path) -> None:
    _, out, _ = trained
    _export(out / "edgeconv.pt", tmp_path / "edgeconv.onnx")
    model, spec = load_checkpoint(out / "edgeconv.pt")
    read = read_graphs(out / "validation_graphs.root")
    assert read.feature_names == spec.graph.feature_names == ("row", "col", *CHANNELS)
    graphs = read.graphs
    with torch.no_grad():
        expected = torch.sigmoid(model(*map(torch.from_numpy, graphs.inputs().values())))
    with Tagger(tmp_path / "edgeconv.onnx", backend="onnxruntime") as tagger:
        scores = tagger(graphs)
    np.testing.assert_allclose(scores, expected.numpy(), atol=1e-5, rtol=0)


def test_cnn_exports_and_scores_raw_frames_like_torch(trained, tmp_path) -> None:
    _, out, frames_path = trained
    _export(out / "cnn.pt", tmp_path / "cnn.onnx")
    model, spec = load_checkpoint(out / "cnn.pt")
    assert spec.frame == {"shape": [3, 32, 32], "channels": list(CHANNELS)}
    assert not torch.equal(model.channel_scale, torch.ones(3))  # set from the training frames
    frames = read_frames(frames_path).frames.frames[:40]
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.from_numpy(frames))).numpy()
    with Tagger(tmp_path / "cnn.onnx", backend="onnxruntime") as tagger:
        scores = tagger(frames)
    np.testing.assert_allclose(scores, expected, atol=1e-5, rtol=0)


def test_infer_scores_a_frames_file_with_the_exported_cnn(trained, tmp_path) -> None:
    _, out, frames_path = trained
    _export(out / "cnn.pt", tmp_path / "cnn.onnx")
    model, _ = load_checkpoint(out / "cnn.pt")
    frames = read_frames(frames_path).frames.frames
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.from_numpy(frames))).numpy()
    args = ["infer", "--model", str(tmp_path / "cnn.onnx"), "--frames", str(frames_path)]
    args += ["--out", str(tmp_path / "s.npz"), "--per-call", "64"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"scored {len(frames)} frames" in result.output
    with np.load(tmp_path / "s.npz") as npz:
        written = dict(npz)
    np.testing.assert_allclose(written["score"], expected[:, 0], atol=1e-5, rtol=0)
    columns = read_frames(frames_path).columns
    for name in ("event", "index", "label"):  # to join the scores back to the frames
        np.testing.assert_array_equal(written[name], np.asarray(columns[name]), err_msg=name)


def test_infer_writes_the_graph_labels_next_to_the_scores(trained, tmp_path) -> None:
    _, out, _ = trained
    _export(out / "edgeconv.pt", tmp_path / "edgeconv.onnx")
    graphs = out / "validation_graphs.root"
    args = ["infer", "--model", str(tmp_path / "edgeconv.onnx"), "--graphs", str(graphs)]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    table = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    header = (tmp_path / "s.csv").read_text().splitlines()[0].split(",")
    labels = read_graphs(graphs).columns["label"]
    assert header == ["score", "event", "index", "label"]
    np.testing.assert_array_equal(table[:, header.index("label")], labels)


def test_validation_graphs_keep_the_ids_of_their_frames(trained) -> None:
    """Each validation graph names its frame (event, index): the frame with those ids has
    as many non-zero pixels as the graph has nodes, and the same label."""
    _, out, frames_path = trained
    graphs = read_graphs(out / "validation_graphs.root")
    frames = read_frames(frames_path)
    row = {
        (e, i): r
        for r, (e, i) in enumerate(
            zip(frames.columns["event"], frames.columns["index"], strict=True)
        )
    }
    pixels = (frames.frames.frames != 0).any(axis=1).sum(axis=(1, 2))
    nodes = np.diff(graphs.graphs.node_ptr)
    ids = zip(graphs.columns["event"], graphs.columns["index"], strict=True)
    rows = np.array([row[(e, i)] for e, i in ids])
    assert len(rows) == graphs.graphs.num_graphs == len(set(rows.tolist()))
    np.testing.assert_array_equal(nodes, pixels[rows])
    np.testing.assert_array_equal(graphs.columns["label"], frames.columns["label"][rows])


@pytest.mark.parametrize(
    ("model", "inputs", "message"),
    [
        ("cnn", ["--graphs", "validation_graphs.root"], "is a frame model: give its inputs with"),
        ("edgeconv", ["--frames", "frames"], "is a graph model: give its inputs with"),
        ("cnn", [], "give exactly one of --graphs"),
    ],
)
def test_infer_refuses_inputs_of_the_other_model_kind(
    trained, tmp_path, model, inputs, message
) -> None:
    _, out, frames_path = trained
    _export(out / f"{model}.pt", tmp_path / f"{model}.onnx")
    files = {
        "validation_graphs.root": str(out / "validation_graphs.root"),
        "frames": str(frames_path),
    }
    args = ["infer", "--model", str(tmp_path / f"{model}.onnx"), "--out", str(tmp_path / "s.npz")]
    result = CliRunner().invoke(main, args + [files.get(a, a) for a in inputs])
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "s.npz").exists()
