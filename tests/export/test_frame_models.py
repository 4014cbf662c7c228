"""CNN taggers on detector frames: export with a dynamic image count, BatchNorm and
Dropout in inference mode, and the Tagger on frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e2e_gnn import Tagger
from e2e_gnn.export import default_example, export_onnx
from e2e_gnn.frames.batch import FrameBatch
from e2e_gnn.nn.models import FrameCNNTagger
from e2e_gnn.spec import FRAME_INPUTS, FRAME_OUTPUTS, ModelSpec

FRAME_SHAPE = (3, 32, 32)


def frame_spec(model: FrameCNNTagger) -> ModelSpec:
    return ModelSpec(
        "cnn",
        "FrameCNNTagger",
        model.hyperparameters,
        inputs=FRAME_INPUTS,
        outputs=FRAME_OUTPUTS,
        frame={"shape": list(FRAME_SHAPE), "channels": ["ecal", "hcal", "tracks"]},
    )


@pytest.fixture(scope="module")
def trained_cnn(tmp_path_factory):
    """A CNN with BatchNorm and Dropout trained a few steps (running stats moved)."""
    torch.manual_seed(0)
    model = FrameCNNTagger(FRAME_SHAPE[0], width=8, num_blocks=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    frames = torch.rand(16, *FRAME_SHAPE) * 3 + 1
    labels = (frames[:, 0].mean(dim=(1, 2)) > frames[:, 1].mean(dim=(1, 2))).float()
    model.train()
    for _ in range(5):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(frames)[:, 0], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    spec = frame_spec(model)
    path = tmp_path_factory.mktemp("cnn") / "cnn.onnx"
    report = export_onnx(model, spec, path, default_example(spec))
    return model, spec, path, report


def test_batchnorm_running_stats_moved_and_export_matches_eval_mode(trained_cnn) -> None:
    model, _, _, report = trained_cnn
    batch_norm = model.blocks[0][1]
    assert not torch.allclose(batch_norm.running_mean, torch.zeros_like(batch_norm.running_mean))
    assert report.passed and report.max_abs_diff <= 1e-5
    cases = {row.case for row in report.rows}
    assert {"one image", "many images", "many images, shuffled"} <= cases


def test_tagger_scores_frames_like_torch_eval(trained_cnn) -> None:
    model, _, path, _ = trained_cnn
    frames = np.random.default_rng(2).random((5, *FRAME_SHAPE), dtype=np.float32)
    with torch.no_grad():
        model.eval()
        expected = torch.sigmoid(model(torch.from_numpy(frames))).numpy()
        model.train()
        train_mode = torch.sigmoid(model(torch.from_numpy(frames))).numpy()
        model.eval()
    assert np.abs(train_mode - expected).max() > 1e-3  # BatchNorm/Dropout do matter
    for backend in ("onnxruntime", "native"):
        scores = Tagger(path, backend=backend)(frames)
        np.testing.assert_allclose(scores, expected, atol=1e-5, rtol=0)


def test_tagger_refuses_bad_frames(trained_cnn) -> None:
    _, _, path, _ = trained_cnn
    tagger = Tagger(path)
    with pytest.raises(ValueError, match=r"'frames' has shape \[2, 3, 16, 16\], the model expects"):
        tagger(np.zeros((2, 3, 16, 16), np.float32))
    with pytest.raises(TypeError, match="float32 array"):
        tagger(np.zeros((2, *FRAME_SHAPE)))
    bad = np.zeros((3, *FRAME_SHAPE), np.float32)
    bad[2, 1, 4, 4] = np.inf
    with pytest.raises(ValueError, match="non-finite values in image 2"):
        tagger(bad)


def test_frame_example_must_have_two_images(tmp_path) -> None:
    model = FrameCNNTagger(3, width=4, num_blocks=1)
    spec = frame_spec(model)
    one = FrameBatch(np.zeros((1, *FRAME_SHAPE), np.float32))
    with pytest.raises(ValueError, match="'frames' has 1 images"):
        export_onnx(model, spec, tmp_path / "m.onnx", one)
