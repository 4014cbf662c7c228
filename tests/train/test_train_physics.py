"""The seed-000 models (cnn3d, arma) on layered frames and the seed-002 ResNet-15 on jet
frames, through `e2e-gnn train`, `e2e-gnn export-onnx --checkpoint` and both Tagger
backends, scores equal to torch within 1e-5."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _train_frames import write_toy_frames, write_toy_layered_frames
from click.testing import CliRunner

from e2e_gnn import Tagger
from e2e_gnn.cli import main
from e2e_gnn.graphs.from_frames import graphs_from_frames
from e2e_gnn.io import read_frames
from e2e_gnn.train import load_checkpoint

ATOL = 1e-5
TINY = ["--epochs", "2", "--width", "4", "--dense", "8", "--hidden", "8", "--batch-size", "16"]


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def layered(tmp_path_factory):
    """cnn3d and arma trained on 60 toy layered frames: (output directory, frames file)."""
    tmp = tmp_path_factory.mktemp("layered")
    frames = write_toy_layered_frames(tmp / "layered.root")
    out = tmp / "run"
    result = _run("train", str(frames), "--out", str(out), "--model", "cnn3d,arma", *TINY)
    assert result.exit_code == 0, result.output
    return out, frames


def _export(checkpoint, onnx_path) -> str:
    result = _run("export-onnx", "--checkpoint", str(checkpoint), "--out", str(onnx_path))
    assert result.exit_code == 0, result.output
    return result.output


def _same_on_both_backends(onnx_path, inputs, expected: np.ndarray) -> None:
    for backend in ("onnxruntime", "native"):
        with Tagger(onnx_path, backend=backend) as tagger:
            np.testing.assert_allclose(tagger(inputs), expected, atol=ATOL, rtol=0)


def test_layered_models_train_and_record_their_settings(layered) -> None:
    out, _ = layered
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["frame_shape"] == [1, 3, 15, 15]
    assert metrics["models"]["cnn3d"]["model_class"] == "LayeredCNNTagger"
    assert metrics["models"]["arma"]["model_class"] == "ARMATagger"
    assert {"dense", "batch_norm", "width"} <= set(metrics["models"]["cnn3d"]["settings"])
    assert {"same_layer", "adjacent_layer", "stacks"} <= set(metrics["models"]["arma"]["settings"])
    assert "knn" not in metrics["models"]["arma"]["settings"]


def test_cnn3d_exports_and_scores_layered_frames_like_torch(layered, tmp_path) -> None:
    out, frames_path = layered
    _export(out / "cnn3d.pt", tmp_path / "cnn3d.onnx")
    model, spec = load_checkpoint(out / "cnn3d.pt")
    assert spec.frame_shape == (1, 3, 15, 15)
    assert spec.inputs[0].shape == ("images", "channels", "layers", "height", "width")
    frames = read_frames(frames_path).frames.frames
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.from_numpy(frames))).numpy()
    assert expected.std() > 1e-3  # not a constant score: parity must mean something
    _same_on_both_backends(tmp_path / "cnn3d.onnx", frames, expected)


def test_arma_exports_and_scores_threshold_graphs_like_torch(layered, tmp_path) -> None:
    out, frames_path = layered
    _export(out / "arma.pt", tmp_path / "arma.onnx")
    model, spec = load_checkpoint(out / "arma.pt")
    assert spec.graph is not None and spec.graph.builder == "threshold"
    assert spec.graph.feature_names == ("row", "col", "layer", "CALO")
    assert not torch.equal(model.norm.running_var, torch.ones(4))  # the input BatchNorm
    frames = read_frames(frames_path).frames.frames
    graphs = graphs_from_frames(frames, edges="threshold", same_layer=0.3, adjacent_layer=0.3)
    assert graphs.edge_index.shape[1] > 0
    with torch.no_grad():
        inputs = [torch.from_numpy(a) for a in graphs.inputs().values()]
        expected = torch.sigmoid(model(*inputs)).numpy()
    assert expected.std() > 1e-3
    _same_on_both_backends(tmp_path / "arma.onnx", graphs, expected)


def test_resnet15_trains_exports_and_scores_like_torch(tmp_path) -> None:
    frames_path = write_toy_frames(tmp_path / "frames.root", num_frames=40)
    out = tmp_path / "run"
    result = _run("train", str(frames_path), "--out", str(out), "--model", "resnet15", *TINY)
    assert result.exit_code == 0, result.output
    _export(out / "resnet15.pt", tmp_path / "resnet15.onnx")
    model, spec = load_checkpoint(out / "resnet15.pt")
    assert spec.model_class == "ResNet15Tagger" and spec.frame_shape == (3, 32, 32)
    frames = read_frames(frames_path).frames.frames
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.from_numpy(frames))).numpy()
    assert expected.std() > 1e-3
    _same_on_both_backends(tmp_path / "resnet15.onnx", frames, expected)


def test_models_refuse_frames_of_the_other_rank(layered, tmp_path) -> None:
    _, layered_path = layered
    plain = write_toy_frames(tmp_path / "frames.root", num_frames=40)
    result = _run("train", str(plain), "--out", str(tmp_path / "a"), "--model", "cnn3d")
    assert result.exit_code == 1
    assert "the cnn3d model takes layered frames [B, C, L, H, W]" in result.output
    assert "these are ['B', 3, 32, 32]" in result.output
    result = _run("train", str(layered_path), "--out", str(tmp_path / "b"), "--model", "resnet15")
    assert result.exit_code == 1
    assert "the resnet15 model takes frames [B, C, H, W], these are layered" in result.output
    assert "Traceback" not in result.output


def test_tagger_refuses_plain_frames_for_a_layered_model(layered, tmp_path) -> None:
    out, _ = layered
    _export(out / "cnn3d.pt", tmp_path / "cnn3d.onnx")
    for backend in ("onnxruntime", "native"):
        with Tagger(tmp_path / "cnn3d.onnx", backend=backend) as tagger:
            with pytest.raises(
                ValueError, match=r"shape \[2, 1, 15, 15\], the model expects \[B, 1, 3, 15, 15\]"
            ):
                tagger(np.zeros((2, 1, 15, 15), np.float32))
            bad = np.zeros((2, 1, 3, 15, 15), np.float32)
            bad[1, 0, 2, 4, 5] = np.nan
            with pytest.raises(
                ValueError, match=r"non-finite values in image 1: nan at \[0, 2, 4, 5\]"
            ):
                tagger(bad)
