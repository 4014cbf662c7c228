"""The JetPointNet study (seed 004) as a node-level kind: clouds of ``e2e-gnn frames
--kind pointcloud`` (:mod:`e2e_gnn.train.clouds`), :class:`~e2e_gnn.nn.jetpointnet.
JetPointNet`, its masked losses and its metrics and plots.

Losses (``--loss``), all skipping the points labelled -1 (the track point):

- ``mse`` (default, the seed's): mean squared error of the predicted vs true energy of the
  focused particle in each cell, GeV^2 (true: label x cell energy);
- ``mae``: the same with the absolute error, GeV;
- ``weighted_mse``: squared error of the fractions (prediction / cell energy vs label)
  weighted by the cell energy.

No ``bce``: the predicted fraction is TSSR of the head, unbounded on purpose (a cell can
hold more of the particle's energy than was measured in it), and clamping it to a
probability would cut the gradient of every point outside [0, 1]
(:func:`~e2e_gnn.train.losses.masked_bce` is for models that output probabilities).

Each adds ``regularization`` x the feature transform's orthogonality penalty.

Metrics on the validation set: per-point fraction residuals (predicted - true fraction),
the predicted vs true focused-particle energy per cloud (sums over the labelled points)
and the seed's MAPE of that total, next to a constant-fraction baseline (every cell
predicted with the training set's energy-weighted mean fraction).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.nn.jetpointnet import JetPointNet
from e2e_gnn.spec import GraphSpec
from e2e_gnn.train.clouds import (
    CLOUD_FEATURES,
    CLOUD_TARGETS,
    ENERGY,
    CloudFileError,
    read_clouds,
)
from e2e_gnn.train.data import TrainingDataError
from e2e_gnn.train.losses import MASKED, masked_mae, masked_mse
from e2e_gnn.train.node_level import NodeData, NodeLevelKind, Tensors, node_data, predict_nodes
from e2e_gnn.train.settings import NODE_LOSSES, TrainSettings

__all__ = ["KIND", "cloud_metrics"]

ENERGY_INDEX = CLOUD_FEATURES.index(ENERGY)
#: the MAPE is also given over the clouds whose focused particle left at least this much
#: (GeV): below, a few MeV of true energy make percentage errors of thousands
LARGE_GEV = 1.0


def _read(paths: Sequence[Path]) -> NodeData:
    try:
        data = node_data(read_clouds(paths), CLOUD_FEATURES, CLOUD_TARGETS)
    except CloudFileError as err:
        raise TrainingDataError(str(err)) from err
    assert data.graphs.node_y is not None
    if (data.graphs.node_y == MASKED).all():
        msg = (
            f"no labelled cell in {[str(p) for p in paths]}: every label is -1 (events "
            "without Hit_truth_fraction?); JetPointNet trains on the cells' energy fractions"
        )
        raise TrainingDataError(msg)
    return data


def _build(training: NodeData, settings: TrainSettings) -> JetPointNet:
    model = JetPointNet(
        len(CLOUD_FEATURES),
        ENERGY_INDEX,
        width=settings.hidden,
        global_width=settings.global_width,
    )
    model.set_feature_scaling(torch.from_numpy(training.graphs.x))
    return model


def _graph_spec(training: NodeData) -> GraphSpec:
    # PointNet reads no edges: every path builds the clouds without any
    return GraphSpec(feature_names=training.feature_names, builder="none", k=None)


def _loss(model: torch.nn.Module, batch: Tensors, settings: TrainSettings) -> Tensor:
    assert isinstance(model, JetPointNet)
    assert batch.node_y is not None
    pred, penalty = model.forward_with_regularization(batch.x, batch.batch)
    label = batch.node_y[:, :1]
    energy = batch.x[:, ENERGY_INDEX : ENERGY_INDEX + 1]
    masked = label == MASKED
    name = settings.loss or NODE_LOSSES["jetpointnet"][0]
    if name in ("mse", "mae"):
        target = torch.where(masked, torch.full_like(label, MASKED), label * energy)
        loss = (masked_mse if name == "mse" else masked_mae)(pred, target)
    elif name == "weighted_mse":
        fraction = pred / torch.where(energy > 0, energy, torch.ones_like(energy))
        loss = masked_mse(fraction, label, weight=energy)
    else:
        msg = f"jetpointnet: unknown loss {name!r}; choose from {NODE_LOSSES['jetpointnet']}"
        raise ValueError(msg)
    return loss + settings.regularization * penalty


def _statistic(function: Any, values: np.ndarray) -> float | None:
    """``function(values)`` as a float, None (null in JSON) without values."""
    return float(function(values)) if values.size else None


def cloud_metrics(
    pred: np.ndarray, graphs: GraphBatch, baseline_fraction: float | None = None
) -> dict[str, Any]:
    """The study's numbers from the predicted energies ``pred`` [N] of the points of
    ``graphs`` (a GraphBatch of clouds with ``node_y``): fraction residuals over the
    labelled points with energy > 0, and per cloud the summed predicted and true energies
    of the labelled points and the MAPE over the clouds with a true energy > 0 (in %).
    With ``baseline_fraction``, also the MAPE of predicting that fraction everywhere."""
    if graphs.node_y is None:
        msg = "cloud_metrics needs clouds with their labels (node_y)"
        raise ValueError(msg)
    label = graphs.node_y[:, 0]
    energy = graphs.x[:, ENERGY_INDEX]
    kept = (label != MASKED) & (energy > 0)
    residual = pred[kept] / energy[kept] - label[kept]
    clouds = graphs.batch[kept]
    true_total = np.bincount(clouds, label[kept] * energy[kept], minlength=graphs.num_graphs)
    pred_total = np.bincount(clouds, pred[kept], minlength=graphs.num_graphs)
    scored = true_total > 0
    large = true_total >= LARGE_GEV

    def ape(prediction: np.ndarray, clouds: np.ndarray) -> np.ndarray:
        return 100 * np.abs(prediction[clouds] - true_total[clouds]) / true_total[clouds]

    def mape(prediction: np.ndarray) -> float | None:
        return _statistic(np.mean, ape(prediction, scored))

    metrics: dict[str, Any] = {
        "points": int(kept.sum()),
        "clouds": int(graphs.num_graphs),
        "clouds_with_true_energy": int(scored.sum()),
        "fraction_residual": {
            "mean": _statistic(np.mean, residual),
            "rms": _statistic(lambda r: np.sqrt((r**2).mean()), residual),
            "median": _statistic(np.median, residual),
            "half_width_68": _statistic(
                lambda r: np.diff(np.percentile(r, [16, 84]))[0] / 2, residual
            ),
        },
        "mape_percent": mape(pred_total),
        "median_ape_percent": _statistic(np.median, ape(pred_total, scored)),
        f"mape_percent_true_above_{LARGE_GEV:g}_gev": _statistic(np.mean, ape(pred_total, large)),
        f"clouds_true_above_{LARGE_GEV:g}_gev": int(large.sum()),
        "true_total": true_total,
        "pred_total": pred_total,
        "residual": residual,
    }
    if baseline_fraction is not None:
        sum_energy = np.bincount(clouds, energy[kept], minlength=graphs.num_graphs)
        baseline = baseline_fraction * sum_energy
        metrics["baseline"] = {
            "fraction": baseline_fraction,
            "mape_percent": mape(baseline),
            "median_ape_percent": _statistic(np.median, ape(baseline, scored)),
            f"mape_percent_true_above_{LARGE_GEV:g}_gev": _statistic(np.mean, ape(baseline, large)),
        }
    return metrics


def _mean_fraction(graphs: GraphBatch) -> float:
    """The energy-weighted mean label of the labelled points."""
    assert graphs.node_y is not None
    label = graphs.node_y[:, 0]
    energy = graphs.x[:, ENERGY_INDEX]
    kept = label != MASKED
    return float((label[kept] * energy[kept]).sum() / energy[kept].sum())


def _evaluate(
    model: torch.nn.Module,
    validation: NodeData,
    training: NodeData,
    out: Path,
    settings: TrainSettings,
) -> dict[str, Any]:
    pred = predict_nodes(model, validation.graphs)[:, 0]
    metrics = cloud_metrics(pred, validation.graphs, _mean_fraction(training.graphs))
    residual = metrics.pop("residual")
    true_total, pred_total = metrics.pop("true_total"), metrics.pop("pred_total")
    _plot_residuals(residual, out / "fraction_residuals.png")
    _plot_cloud_energy(true_total, pred_total, metrics["mape_percent"], out / "cloud_energy.png")
    return {
        "validation_metrics": metrics,
        "plots": ["loss.png", "fraction_residuals.png", "cloud_energy.png"],
    }


def _plot_residuals(residual: np.ndarray, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(5, 4.5))
    axes.hist(residual, bins=np.linspace(-1, 1, 81), histtype="step", color="C0")
    axes.axvline(0, color="grey", ls=":")
    axes.set(
        xlabel="predicted - true fraction per cell",
        ylabel="cells",
        yscale="log",
        title=f"{len(residual)} labelled cells, RMS {np.sqrt((residual**2).mean()):.3f}",
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _plot_cloud_energy(true: np.ndarray, pred: np.ndarray, mape: float, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(5, 4.5))
    axes.scatter(true, pred, s=6, alpha=0.5, color="C0")
    top = max(float(true.max()), float(pred.max()), 1e-3) * 1.05
    axes.plot([0, top], [0, top], ls=":", color="grey", label="predicted = true")
    axes.set(
        xlabel="true focused-particle energy per cloud (GeV)",
        ylabel="predicted (GeV)",
        xlim=(0, top),
        ylim=(0, top),
        title=f"{len(true)} clouds, MAPE {mape:.1f} %",
    )
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _summary(metrics: dict[str, Any]) -> str:
    found = metrics["validation_metrics"]
    residual = found["fraction_residual"]
    above = f"mape_percent_true_above_{LARGE_GEV:g}_gev"
    baseline = found["baseline"]

    def shown(value: float | None, form: str = ".1f") -> str:
        return "n/a" if value is None else format(value, form)

    return (
        f"validation: {found['clouds']} clouds ({found['clouds_with_true_energy']} with true "
        f"energy), {found['points']} labelled cells; focused-particle energy per cloud: MAPE "
        f"{shown(found['mape_percent'])} %, median APE {shown(found['median_ape_percent'])} %,"
        f" MAPE >= {LARGE_GEV:g} GeV {shown(found[above])} % (constant-fraction baseline "
        f"{shown(baseline['mape_percent'])} / {shown(baseline['median_ape_percent'])} / "
        f"{shown(baseline[above])} %); fraction residual mean {shown(residual['mean'], '+.3f')},"
        f" RMS {shown(residual['rms'], '.3f')}"
    )


KIND = NodeLevelKind(
    read=_read,
    build=_build,
    graph_spec=_graph_spec,
    loss=_loss,
    evaluate=_evaluate,
    loss_label="JetPointNet loss (masked)",
    summary=_summary,
)
