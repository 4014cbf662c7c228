"""Node-level training with JetPointNet: point-cloud files as graphs with per-point labels
(checked by hand), the split by event, and `e2e-gnn train --model jetpointnet` end to end
on clouds including one longer than the seed's 859 points, then export and ONNX Runtime."""

from __future__ import annotations

import json
import math
from pathlib import Path

import awkward as ak
import numpy as np
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from e2e_gnn.cli import main
from e2e_gnn.io import ColumnWriter, read_graphs
from e2e_gnn.nn import JetPointNet
from e2e_gnn.train import load_checkpoint
from e2e_gnn.train.clouds import CLOUD_FEATURES, CloudFileError, cloud_graphs, read_clouds
from e2e_gnn.train.data import TrainingDataError
from e2e_gnn.train.jetpointnet import cloud_metrics
from e2e_gnn.train.node_level import Tensors, node_data, node_kind, split_nodes_by_event
from e2e_gnn.train.settings import NODE_LOSSES, TrainSettings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LONG = 900  # longer than JetPointNet's hard-coded 859


def _clouds(sizes: list[int], events: list[int], seed: int = 0) -> ak.Array:
    """Clouds in the layout of `e2e-gnn frames --kind pointcloud`; a cell's label is its
    share from the focused particle: 0.9 within dr 0.05 of the track, else 0.1."""
    rng = np.random.default_rng(seed)
    records = []
    for index, (size, event) in enumerate(zip(sizes, events, strict=True)):
        deta, dphi = rng.uniform(-0.14, 0.14, size), rng.uniform(-0.14, 0.14, size)
        dr = np.hypot(deta, dphi)
        records.append(
            {
                "event": event,
                "track_index": index,
                "track": {"pt": 5.0, "eta": 0.5, "phi": 0.0, "d0": 0.0, "dz": 0.0, "charge": 1},
                "points": [
                    {"deta": a, "dphi": b, "dr": r, "energy": e, "depth": d, "subdet": d // 3}
                    for a, b, r, e, d in zip(
                        deta,
                        dphi,
                        dr,
                        rng.exponential(1.0, size),
                        rng.integers(0, 6, size),
                        strict=True,
                    )
                ],
                "label": np.where(dr < 0.05, 0.9, 0.1).tolist(),
            }
        )
    array = ak.Array(records)
    return ak.zip(
        {
            "event": ak.values_astype(array.event, np.int64),
            "track_index": ak.values_astype(array.track_index, np.int64),
            "track": ak.zip(
                {
                    f: ak.values_astype(array.track[f], np.float32)
                    for f in ("pt", "eta", "phi", "d0", "dz")
                }
            ),
            "points": ak.zip(
                {
                    f: ak.values_astype(
                        array.points[f], np.int32 if f in ("depth", "subdet") else np.float32
                    )
                    for f in ("deta", "dphi", "dr", "energy", "depth", "subdet")
                }
            ),
            "label": ak.values_astype(array.label, np.float32),
        },
        depth_limit=1,
    )


def _write(path: Path, clouds: ak.Array) -> Path:
    with ColumnWriter(path) as writer:  # as `e2e-gnn frames` writes them
        writer.write({name: clouds[name] for name in clouds.fields})
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".root"])
def test_clouds_become_graphs_with_the_track_first_and_masked(tmp_path, suffix) -> None:
    clouds = _clouds([2, 3], [7, 8])
    ((graphs, ids),) = read_clouds([_write(tmp_path / f"c{suffix}", clouds)])
    assert graphs.describe() == "2 graphs, 7 nodes, 0 edges"
    assert graphs.node_ptr.tolist() == [0, 3, 7]
    assert ids["event"].tolist() == [7, 8]
    assert ids["track_index"].tolist() == [0, 1]
    energy = CLOUD_FEATURES.index("energy")
    # the track point: (deta, dphi, dr) = 0, momentum 5 cosh(0.5), depth/subdet -1, label -1
    track = graphs.x[3]
    assert track[energy] == pytest.approx(5 * math.cosh(0.5), rel=1e-6)
    assert track[[0, 1, 2]].tolist() == [0, 0, 0]
    assert track[[4, 5, 6]].tolist() == [-1, -1, 1]
    assert graphs.node_y[[0, 3], 0].tolist() == [-1, -1]
    # the cells, in file order, with their labels
    cells = graphs.x[4:]
    assert cells[:, energy].tolist() == pytest.approx(ak.to_list(clouds.points.energy[1]))
    assert cells[:, -1].tolist() == [0, 0, 0]
    assert graphs.node_y[4:, 0].tolist() == pytest.approx(ak.to_list(clouds.label[1]))


def test_not_a_cloud_file_is_one_clear_error(tmp_path) -> None:
    with ColumnWriter(tmp_path / "other.parquet") as writer:
        writer.write({"event": np.arange(3)})
    with pytest.raises(CloudFileError, match=r"lacks the column\(s\) \['points.deta'"):
        read_clouds([tmp_path / "other.parquet"])
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(tmp_path / "other.parquet"),
            "--out",
            str(tmp_path / "o"),
            "--model",
            "jetpointnet",
        ],
    )
    assert result.exit_code == 1
    assert "lacks the column(s)" in result.output
    assert "Traceback" not in result.output


def test_split_by_event_keeps_events_whole(tmp_path) -> None:
    events = [0, 0, 1, 1, 1, 2, 3, 3, 4, 5]
    first = _write(tmp_path / "a.parquet", _clouds([3] * 10, events))
    second = _write(tmp_path / "b.parquet", _clouds([2] * 4, [0, 0, 1, 9], seed=1))
    data = node_data(read_clouds([first, second]), CLOUD_FEATURES, ("fraction",))
    # event 0 of file a and event 0 of file b are different events
    assert len(np.unique(data.event)) == 6 + 3
    assert data.ids["file"].tolist() == [0] * 10 + [1] * 4
    training, validation = split_nodes_by_event(data, 0.4, seed=0)
    assert len(training) + len(validation) == 14
    assert not set(training.event) & set(validation.event)
    assert training.graphs.node_y.shape == (training.graphs.num_nodes, 1)
    with pytest.raises(TrainingDataError, match="the validation set is empty"):
        split_nodes_by_event(data.select(np.array([0, 1])), 0.4, seed=0)


def test_cloud_metrics_by_hand() -> None:
    clouds = _clouds([2, 1], [0, 1])
    graphs, _ = cloud_graphs({name: clouds[name] for name in clouds.fields}, "test")
    energy = graphs.x[:, CLOUD_FEATURES.index("energy")]
    label = graphs.node_y[:, 0]
    # predict twice the true energy in every cell, anything on the masked track points
    pred = np.where(label == -1, 123.0, 2 * label * energy).astype(np.float32)
    found = cloud_metrics(pred, graphs, baseline_fraction=0.5)
    assert found["points"] == 3
    assert found["mape_percent"] == pytest.approx(100.0)
    kept = label != -1
    assert found["fraction_residual"]["mean"] == pytest.approx(label[kept].mean())
    true_total = np.bincount(graphs.batch[kept], (label * energy)[kept])
    sum_energy = np.bincount(graphs.batch[kept], energy[kept])
    baseline = np.mean(np.abs(0.5 * sum_energy - true_total) / true_total) * 100
    assert found["baseline"]["mape_percent"] == pytest.approx(baseline, rel=1e-5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """2 epochs on 40 clouds of 20 events, one cloud of 900 cells."""
    tmp = tmp_path_factory.mktemp("jetpointnet")
    sizes = [LONG] + [15] * 39
    clouds = _write(tmp / "clouds.parquet", _clouds(sizes, [i // 2 for i in range(40)]))
    out = tmp / "run"
    args = [
        "train",
        str(clouds),
        "--out",
        str(out),
        "--model",
        "jetpointnet",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--hidden",
        "8",
        "--global-width",
        "16",
        "--validation-fraction",
        "0.25",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result, out, clouds


def test_train_jetpointnet_from_the_command_line(trained) -> None:
    result, out, _ = trained
    assert "MAPE" in result.output
    for plot in ("loss.png", "fraction_residuals.png", "cloud_energy.png"):
        assert (out / plot).read_bytes()[:8] == PNG_SIGNATURE, plot
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model_class"] == "JetPointNet"
    assert metrics["features"] == list(CLOUD_FEATURES)
    assert metrics["settings"]["loss"] == "mse"
    assert "knn" not in metrics["settings"]
    assert len(metrics["loss_per_epoch"]["training"]) == 2
    assert metrics["training"]["graphs"] + metrics["validation"]["graphs"] == 40
    assert metrics["training"]["events"] + metrics["validation"]["events"] == 20
    found = metrics["validation_metrics"]
    assert found["clouds"] == metrics["validation"]["graphs"]
    assert found["mape_percent"] > 0
    assert np.isfinite(metrics["loss_per_epoch"]["validation"]).all()
    # the validation clouds as a graph file, with their targets and ids, for `infer`
    read = read_graphs(
        out / metrics["validation_graphs"],
        feature_names=CLOUD_FEATURES,
        node_target_names=("fraction",),
    )
    assert read.graphs.num_graphs == found["clouds"]
    assert read.graphs.node_y is not None
    assert (read.graphs.node_y[read.graphs.node_ptr[:-1], 0] == -1).all()
    assert set(read.columns) >= {"event", "track_index"}


def test_checkpoint_exports_and_runs_a_long_cloud_in_onnxruntime(trained, tmp_path) -> None:
    _, out, clouds = trained
    model, spec = load_checkpoint(out / "jetpointnet.pt")
    assert isinstance(model, JetPointNet)
    assert spec.graph is not None
    assert spec.graph.builder == "none"
    path = tmp_path / "jetpointnet.onnx"
    result = CliRunner().invoke(
        main, ["export-onnx", "--checkpoint", str(out / "jetpointnet.pt"), "--out", str(path)]
    )
    assert result.exit_code == 0, result.output
    ((graphs, _),) = read_clouds([clouds])
    long = graphs.select([0])
    assert long.num_nodes == LONG + 1
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["energy"], long.inputs())
    with torch.no_grad():
        want = model(*(torch.from_numpy(a) for a in long.inputs().values())).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_cli_refuses_mixing_and_unknown_losses(tmp_path) -> None:
    runner = CliRunner()
    base = ["train", str(tmp_path / "x.parquet"), "--out", str(tmp_path / "o")]
    mixed = runner.invoke(main, [*base, "--model", "jetpointnet,edgeconv"])
    assert mixed.exit_code == 2
    assert "train it alone" in mixed.output
    loss = runner.invoke(main, [*base, "--model", "jetpointnet", "--loss", "lgk"])
    assert loss.exit_code == 2
    assert "jetpointnet has no loss 'lgk'" in loss.output
    frames = runner.invoke(main, [*base, "--model", "cnn", "--loss", "mse"])
    assert frames.exit_code == 2
    assert "--loss is for the node-level models" in frames.output
    reweight = runner.invoke(main, [*base, "--model", "jetpointnet", "--reweight", "pt,eta"])
    assert reweight.exit_code == 2
    assert "jetpointnet has none" in reweight.output


def test_every_loss_trains_a_step(tmp_path) -> None:
    """Each loss gives a finite value and gradients into the transform nets."""
    kind = node_kind("jetpointnet")
    data = kind.read([_write(tmp_path / "c.parquet", _clouds([30, 4], [0, 1]))])
    for loss in NODE_LOSSES["jetpointnet"]:
        settings = TrainSettings(hidden=8, global_width=8, loss=loss)
        model = kind.build(data, settings)
        value = kind.loss(model, Tensors.of(data.graphs), settings)
        value.backward()
        assert torch.isfinite(value), loss
        assert model.feature_tnet is not None
        assert model.feature_tnet.head[-1].weight.grad.abs().sum() > 0, loss
