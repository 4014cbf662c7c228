"""The calibration kind of node-level training: calibrated jets, targets, response tables
and bound counts against hand-computed values, then `e2e-gnn train --model calibration`
end to end on a small graph file (checkpoint, spec, metrics, plots)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from e2e_gnn.cli import main
from e2e_gnn.frames.constituents import GRAPH_FEATURES, NODE_FEATURES
from e2e_gnn.graphs import delaunay_graph
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.io import write_graphs
from e2e_gnn.train import load_checkpoint
from e2e_gnn.train.calibration import (
    at_bound,
    calibrated_jets,
    calibration_loss,
    jet_targets,
    response_in_bins,
)
from e2e_gnn.train.data import TrainingDataError
from e2e_gnn.train.node_level import node_kind

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ENERGY, ETA, DPHI = (NODE_FEATURES.index(n) for n in ("energy", "eta", "dphi"))


def _nodes(energy: list[float], eta: list[float], dphi: list[float]) -> torch.Tensor:
    x = torch.zeros(len(energy), len(NODE_FEATURES), dtype=torch.float64)
    x[:, ENERGY], x[:, ETA], x[:, DPHI] = (
        torch.tensor(v, dtype=torch.float64) for v in (energy, eta, dphi)
    )
    return x


def test_calibrated_jet_is_the_sum_of_corrected_constituents() -> None:
    # jet 0: 10 GeV at (0, 0) x 1.5 and 5 GeV at (0, 0.1) x 0.8; jet 1: 2 GeV at eta 1 x 2
    x = _nodes([10.0, 5.0, 2.0], [0.0, 0.0, 1.0], [0.0, 0.1, 0.0])
    factor = torch.tensor([[1.5], [0.8], [2.0]], dtype=torch.float64)
    shift = torch.tensor([[0.0], [0.25]], dtype=torch.float64)
    energy, rapidity = calibrated_jets(x, torch.tensor([0, 0, 1]), factor, shift, 2)
    assert energy.tolist() == pytest.approx([15.0 + 4.0, 4.0])
    # jet 0 lies in the transverse plane (pz = 0): rapidity 0; jet 1 is one massless
    # constituent: rapidity = its eta (1), plus the shift
    assert rapidity.tolist() == pytest.approx([0.0, 1.25], abs=1e-12)


def test_rapidity_of_two_constituents_by_hand() -> None:
    # 4 GeV at eta 0.5 and 6 GeV at eta -0.2, same phi: y = asinh(pz / mT)
    eta = [0.5, -0.2]
    x = _nodes([4.0, 6.0], eta, [0.0, 0.0])
    pt = [4 / math.cosh(0.5), 6 / math.cosh(-0.2)]
    pz = pt[0] * math.sinh(0.5) + pt[1] * math.sinh(-0.2)
    mt = math.sqrt(10.0**2 - pz**2)
    _, rapidity = calibrated_jets(
        x, torch.tensor([0, 0]), torch.ones(2, 1, dtype=torch.float64), torch.zeros(1, 1), 1
    )
    assert rapidity.item() == pytest.approx(math.asinh(pz / mt), abs=1e-9)


def test_jet_targets_and_losses() -> None:
    node_y = torch.tensor([[50.0, 0.25], [50.0, 0.25], [20.0, -1.0]])
    true_energy, true_rapidity = jet_targets(node_y, torch.tensor([0, 0, 1]), 2)
    assert true_energy.tolist() == [50.0, 20.0] and true_rapidity.tolist() == [0.25, -1.0]
    energy, rapidity = torch.tensor([40.0, 20.0]), torch.tensor([0.45, -1.0])
    # mse: mean((1 - r)^2) = (0.04 + 0) / 2; rapidity: mean |dy| = (0.2 + 0) / 2
    mse = calibration_loss(energy, rapidity, true_energy, true_rapidity, "mse")
    assert mse.item() == pytest.approx(0.02 + 0.1)
    # lgk (alpha 0.01, beta 1) at r = 0.8: 0.2 + 1 - exp(-0.04 / 0.02), r = 1: 0
    lgk = calibration_loss(energy, rapidity, true_energy, true_rapidity, "lgk")
    assert lgk.item() == pytest.approx((1.2 - math.exp(-2.0)) / 2 + 0.1, abs=1e-6)
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        calibration_loss(energy, rapidity, true_energy, true_rapidity, "l1")


def test_response_and_resolution_by_hand() -> None:
    true = np.array([15.0] * 5 + [30.0, 30.0])
    energy = true * np.array([0.8, 0.9, 1.0, 1.1, 1.2, 0.5, 0.7])
    rows = response_in_bins(energy, true, (10.0, 20.0, 40.0, 80.0))
    assert [r["jets"] for r in rows] == [5, 2]  # the empty 40-80 bin is left out
    # 16 % and 84 % of 5 values (linear interpolation): 0.864 and 1.136, median 1
    assert rows[0]["response"] == pytest.approx(1.0)
    assert rows[0]["resolution"] == pytest.approx(0.5 * (1.136 - 0.864))
    # two values: median 0.6, quantiles 0.5 + 0.16 * 0.2 and 0.5 + 0.84 * 0.2
    assert rows[1]["response"] == pytest.approx(0.6)
    assert rows[1]["resolution"] == pytest.approx(0.5 * 0.68 * 0.2 / 0.6)


def test_factors_at_the_bounds() -> None:
    found = at_bound(np.array([0.5, 0.52, 0.6, 1.0, 2.99, 3.0]), 0.5, 3.0)
    # within 1 % of the range (0.025) of a bound
    assert (found["at_min"], found["at_max"], found["constituents"]) == (2, 2, 6)


def _graph_file(path: Path, jets: int = 40, seed: int = 0) -> Path:
    """Random jets with the constituent features, u and the targets: the true energy is
    1.25 x the reco energy."""
    rng = np.random.default_rng(seed)
    graphs, energies = [], []
    for _ in range(jets):
        n = int(rng.integers(1, 8))
        x = rng.uniform(0.1, 1.0, size=(n, len(NODE_FEATURES))).astype(np.float32)
        x[:, ENERGY] = rng.exponential(10.0, n) + 10  # every jet inside the 10-1280 GeV bins
        x[:, DPHI] = rng.uniform(-0.2, 0.2, n)
        graphs.append((x, delaunay_graph(x[:, [NODE_FEATURES.index("deta"), DPHI]].copy())))
        energies.append(float(x[:, ENERGY].sum()))
    u = rng.normal(size=(jets, len(GRAPH_FEATURES))).astype(np.float32)
    batch = GraphBatch.from_graphs(graphs, u=u)
    return write_graphs(
        path,
        batch,
        feature_names=NODE_FEATURES,
        graph_feature_names=GRAPH_FEATURES,
        true_energy=1.25 * np.array(energies, dtype=np.float32),
        true_rapidity=u[:, 0] * 0.01,
        event=np.arange(jets) // 2,
        index=np.arange(jets) % 2,
    )


def test_read_refuses_files_without_targets(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, len(NODE_FEATURES))).astype(np.float32)
    batch = GraphBatch.from_graphs([(x, np.zeros((2, 0), dtype=np.int64))], u=np.ones((1, 10)))
    path = write_graphs(
        tmp_path / "g.parquet",
        batch,
        feature_names=NODE_FEATURES,
        graph_feature_names=GRAPH_FEATURES,
        event=np.array([1]),
        index=np.array([0]),
    )
    with pytest.raises(TrainingDataError, match=r"lacks the per-graph column\(s\) \['true_energy'"):
        node_kind("calibration").read([path])


def test_train_command_end_to_end(tmp_path: Path) -> None:
    path = _graph_file(tmp_path / "jets.parquet")
    out = tmp_path / "run"
    args = ["train", str(path), "--model", "calibration", "--out", str(out), "--epochs", "2"]
    result = CliRunner().invoke(main, [*args, "--hidden", "8", "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model_class"] == "CalibrationGNN"
    assert metrics["settings"]["loss"] == "lgk"
    validation = metrics["validation_metrics"]
    assert validation["jets"] == metrics["validation"]["graphs"]
    # every jet is 1.25 x its reco energy: the uncalibrated response is 0.8 in every bin
    assert all(r["response"] == pytest.approx(0.8, rel=1e-5) for r in validation["uncalibrated"])
    assert sum(r["jets"] for r in validation["calibrated"]) == validation["jets"]
    assert (out / "calibration.png").read_bytes()[:8] == PNG_SIGNATURE
    model, spec = load_checkpoint(out / "calibration.pt")
    assert spec.graph is not None and spec.graph.builder == "delaunay"
    assert spec.graph.graph_feature_names == GRAPH_FEATURES
    assert model.hyperparameters["hidden"] == 8


def test_train_command_refuses_an_unknown_loss(tmp_path: Path) -> None:
    path = _graph_file(tmp_path / "jets.parquet", jets=4)
    args = ["train", str(path), "--model", "calibration", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(main, [*args, "--loss", "bce"])
    assert result.exit_code != 0
    assert "calibration has no loss 'bce'; choose from ['lgk', 'mse']" in result.output
