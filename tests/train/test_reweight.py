"""(pT, eta) reweighting on hand-made samples: after it the weighted histograms of the two
classes agree (checked with NumPy's own histogram2d on the same quantile edges), clipping
and normalisation; the weighted loss of the trainer; `e2e-gnn train --reweight` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _train_frames import CHANNELS, toy_frames
from click.testing import CliRunner

from e2e_gnn.cli import main
from e2e_gnn.frames.batch import FrameBatch
from e2e_gnn.io import write_frames
from e2e_gnn.train.reweight import Reweighting, parse_reweight, reweight
from e2e_gnn.train.trainer import predict_logits, train


def _sample(n: int = 4000, seed: int = 1) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Signal harder and more central than background, as tau vs QCD jets."""
    rng = np.random.default_rng(seed)
    label = (np.arange(n) % 2).astype(np.float32)
    pt = np.where(label == 1, rng.normal(60, 12, n), 20 + rng.exponential(25, n))
    eta = np.where(label == 1, rng.normal(0, 0.4, n), rng.uniform(-1.4, 1.4, n))
    return {"pt": pt, "eta": eta}, label


def _histograms(columns, label, weights, bins):
    pooled = [columns["pt"], columns["eta"]]
    edges = [np.quantile(v, np.linspace(0, 1, b + 1)) for v, b in zip(pooled, bins, strict=True)]
    return [
        np.histogram2d(columns["pt"][m], columns["eta"][m], bins=edges, weights=weights[m])[0]
        for m in (label == 0, label == 1)
    ]


def test_weighted_histograms_of_the_classes_agree() -> None:
    columns, label = _sample()
    spec = Reweighting(bins=(5, 4), max_weight=1e9)  # no clipping: exact agreement
    weights = reweight(columns, label, spec, "the sample")
    raw = _histograms(columns, label, np.ones(len(label)), spec.bins)
    background, signal = _histograms(columns, label, weights.astype(np.float64), spec.bins)
    # unweighted the spectra differ a lot; weighted, both are flat over the common bins
    assert np.abs(raw[0] / raw[0].sum() - raw[1] / raw[1].sum()).max() > 0.05
    np.testing.assert_allclose(background, signal, rtol=1e-5, atol=1e-6)
    common = (raw[0] > 0) & (raw[1] > 0)
    np.testing.assert_allclose(signal[common], signal[common].mean(), rtol=1e-5)
    assert (signal[~common] == 0).all()
    # each class carries half of the total, mean weight 1
    assert weights[label == 0].sum() == pytest.approx(len(label) / 2, rel=1e-5)
    assert weights[label == 1].sum() == pytest.approx(len(label) / 2, rel=1e-5)


def test_items_the_other_class_never_reaches_get_no_weight() -> None:
    rng = np.random.default_rng(2)
    label = (np.arange(3000) % 2).astype(np.float32)
    # signal central (|eta| < 0.3), background over the barrel: six eta bins of the pooled
    # sample put the first and last (|eta| > ~0.45) on background alone
    eta = np.where(label == 1, rng.uniform(-0.3, 0.3, 3000), rng.uniform(-1.4, 1.4, 3000))
    columns = {"pt": rng.uniform(20, 80, 3000), "eta": eta}
    weights = reweight(columns, label, Reweighting(bins=(1, 6)), "the sample")
    outside = np.abs(eta) > 0.9
    assert outside.sum() > 500 and (weights[outside] == 0).all()
    assert (weights[label == 1] > 0).all()


def test_weights_are_clipped_at_max_weight_times_the_class_median() -> None:
    columns, label = _sample(n=600)
    weights = reweight(columns, label, Reweighting(bins=(8, 8), max_weight=3.0), "the sample")
    for c in (0, 1):
        mine = weights[(label == c) & (weights > 0)]
        assert mine.max() <= 3.0 * np.median(mine) * (1 + 1e-6)
    unclipped = reweight(columns, label, Reweighting(bins=(8, 8), max_weight=1e9), "the sample")
    assert unclipped.max() / np.median(unclipped[unclipped > 0]) > 3.0  # clipping did bite


def test_parse_and_refusals() -> None:
    assert parse_reweight("pt,eta") == Reweighting(("pt", "eta"), (6, 6))
    assert parse_reweight("pt:8, eta:4") == Reweighting(("pt", "eta"), (8, 4))
    for bad in ("pt", "pt,eta,phi", "pt:0,eta", "pt:x,eta", "pt,pt", ":3,eta"):
        with pytest.raises(ValueError, match="reweight"):
            parse_reweight(bad)
    columns, label = _sample(n=100)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['eta'\].*\['pt'\]"):
        reweight({"pt": columns["pt"]}, label, Reweighting(), "frames.root")
    columns["eta"][7] = np.nan
    with pytest.raises(ValueError, match="'eta' of frames.root is not finite at item 7"):
        reweight(columns, label, Reweighting(), "frames.root")


def test_the_training_loss_is_the_weighted_mean_of_the_item_losses() -> None:
    frames, label, _ = toy_frames(40, seed=3)
    keep = label >= 0
    batch = FrameBatch(frames[keep], label[keep].astype(np.float32))
    weights = np.random.default_rng(0).uniform(0, 3, len(batch)).astype(np.float32)
    torch.manual_seed(0)
    # no BatchNorm, no dropout: training mode computes what predict_logits does
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(len(CHANNELS) * 32 * 32, 1))
    logits = predict_logits(model, batch)[:, 0].astype(np.float64)
    y = batch.y.astype(np.float64)
    bce = np.logaddexp(0, logits) - y * logits  # BCE with logits, per item
    # lr 0: the model never changes, so the epoch loss is that of the initial model
    history = train(model, batch, epochs=1, lr=0.0, batch_size=8, weights=weights)
    assert history.train_loss[0] == pytest.approx(float((weights * bce).mean()), rel=1e-5)
    with pytest.raises(ValueError, match="3 weights for 36 training items"):
        train(model, batch, epochs=1, weights=weights[:3])


@pytest.fixture(scope="module")
def kinematic_frames(tmp_path_factory):
    """Toy frames whose signal has a harder pT spectrum, with pt and eta columns."""
    frames, label, event = toy_frames(200, seed=4)
    columns, _ = _sample(len(label), seed=4)
    pt = np.where(label == 1, columns["pt"], 20 + np.abs(columns["pt"] - 20))
    path = tmp_path_factory.mktemp("reweight") / "frames.root"
    return write_frames(
        path,
        frames,
        CHANNELS,
        label=label,
        event=event,
        index=np.arange(len(label)) % 2,
        pt=pt.astype(np.float32),
        eta=columns["eta"].astype(np.float32),
    )


def test_train_reweight_end_to_end(kinematic_frames, tmp_path) -> None:
    out = tmp_path / "run"
    args = ["train", str(kinematic_frames), "--out", str(out), "--model", "cnn"]
    result = CliRunner().invoke(main, [*args, "--epochs", "1", "--reweight", "pt:3,eta:2"])
    assert result.exit_code == 0, result.output
    model = json.loads((out / "metrics.json").read_text())["models"]["cnn"]
    assert model["settings"]["reweight"] == "pt:3,eta:2"
    assert (out / "rejection.png").read_bytes()[:4] == b"\x89PNG"
    table = model["validation_performance"]
    assert table["auc"] == pytest.approx(model["validation_auc"], abs=1e-4)
    assert {"rejection_at_50", "rejection_at_80"} <= set(table)
    bins = table["pt_bins"]
    assert len(bins) == 4
    assert sum(b["signal"] + b["background"] for b in bins) == model["validation"]["frames"]


def test_train_reweight_refuses_frames_without_the_columns(tmp_path) -> None:
    frames, label, event = toy_frames(60)
    path = write_frames(tmp_path / "f.root", frames, CHANNELS, label=label, event=event)
    args = ["train", str(path), "--out", str(tmp_path / "o"), "--model", "cnn"]
    result = CliRunner().invoke(main, [*args, "--reweight", "pt,eta"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "the training frames lacks the column(s) ['pt', 'eta']" in result.output
