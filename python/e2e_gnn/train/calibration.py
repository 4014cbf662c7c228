r"""The constituent-calibration study (seed 001) as a node-level kind (``e2e-gnn train
--model calibration``): jet graphs of ``e2e-gnn frames --kind constituents``,
:class:`~e2e_gnn.nn.calibration.CalibrationGNN`, its jet-level losses, and the jet energy
response and resolution before and after calibration.

The model predicts a factor :math:`c_i` per constituent and a shift :math:`\Delta y` per
jet; the loss is on the jet. The calibrated jet is the sum of the corrected massless
constituents, :math:`p_\mathrm{calib} = \sum_i c_i\,p_i` (constituent i at its ``eta`` and
``dphi`` from the jet axis, energy ``energy``), so :math:`E_\mathrm{calib} = \sum_i c_i
E_i`, and its rapidity is :math:`y_\mathrm{calib} = y(p_\mathrm{calib}) + \Delta y`. With
:math:`r = E_\mathrm{calib} / E_\mathrm{true}` the loss of a batch of jets is

.. math::
    L = L_E(r) + \lambda\,\overline{|y_\mathrm{calib} - y_\mathrm{true}|},

:math:`L_E` the LGK loss (``--loss lgk``, the default: :func:`~e2e_gnn.train.losses.
lgk_loss` with :data:`ALPHA` and :data:`BETA`) or, as the comparison, the MSE
:math:`\overline{(1 - r)^2}` (``--loss mse``); the rapidity term (:math:`\lambda` =
:data:`RAPIDITY_WEIGHT`) is the same for both.

The truth jet energy and rapidity are per-graph columns of the graph files; in the
pipeline they ride in ``node_y``, each node carrying its jet's two values (the pipeline's
target slot), and the loss reads one row per jet.

Metrics on the validation jets: the response (median of :math:`E / E_\mathrm{true}`) and
resolution (half the 16-84 % interquantile range over the median) in bins of truth energy,
before (the sum of the uncorrected constituents) and after calibration; the constituents
whose factor sits at a bound; the rapidity residuals.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from e2e_gnn.frames.constituents import GRAPH_FEATURES, NODE_FEATURES, TARGETS
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.io import InputFileError
from e2e_gnn.io.graph_files import read_graphs
from e2e_gnn.nn.calibration import CalibrationGNN
from e2e_gnn.spec import GraphSpec
from e2e_gnn.train.data import TrainingDataError
from e2e_gnn.train.losses import graph_sum, lgk_loss
from e2e_gnn.train.node_level import PER_CALL, NodeData, NodeLevelKind, Tensors, node_data
from e2e_gnn.train.settings import NODE_LOSSES, TrainSettings

__all__ = [
    "ALPHA",
    "BETA",
    "ENERGY_BINS",
    "KIND",
    "RAPIDITY_WEIGHT",
    "at_bound",
    "calibrated_jets",
    "calibration_graph_spec",
    "calibration_loss",
    "evaluate",
    "jet_targets",
    "plot_calibration",
    "predict_jets",
    "read_calibration_graphs",
    "response_in_bins",
]

#: LGK kernel variance (its width is sqrt(ALPHA) = 0.1 in 1 - r) and linear-term weight
ALPHA = 0.01
BETA = 1.0
#: weight of the mean absolute rapidity difference in the loss
RAPIDITY_WEIGHT = 1.0
#: truth-energy bin edges (GeV) of the response and resolution tables
ENERGY_BINS = (10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0)
_ENERGY, _ETA, _DPHI = (NODE_FEATURES.index(n) for n in ("energy", "eta", "dphi"))
WANTED = "a graph file of `e2e-gnn frames --kind constituents`"


def read_calibration_graphs(paths: Sequence[Path]) -> NodeData:
    """The jet graphs of ``paths`` (``u``: the jet/event features; ``node_y``: each node's
    jet targets ``TARGETS``), ids ``event`` and ``index`` (the jet in its event)."""
    parts = []
    for path in paths:
        try:
            read = read_graphs(
                path, feature_names=NODE_FEATURES, graph_feature_names=GRAPH_FEATURES
            )
        except InputFileError as err:
            msg = f"{err} (expected {WANTED})"
            raise TrainingDataError(msg) from err
        missing = [n for n in (*TARGETS, "event", "index") if n not in read.columns]
        if missing:
            msg = (
                f"graph file {str(path)!r} lacks the per-graph column(s) {missing}; "
                f"expected {WANTED}"
            )
            raise TrainingDataError(msg)
        g = read.graphs
        targets = np.column_stack([read.columns[n] for n in TARGETS]).astype(np.float32)
        graphs = GraphBatch(
            g.x, g.edge_index, g.batch, g.num_graphs, u=g.u, node_y=targets[g.batch]
        )
        parts.append((graphs, {n: read.columns[n] for n in ("event", "index")}))
    return node_data(parts, NODE_FEATURES, TARGETS, GRAPH_FEATURES)


def calibration_graph_spec() -> GraphSpec:
    """How the calibration graphs are built: Delaunay edges in (deta, dphi) from the jet
    axis, the constituent features and the jet/event features ``u``."""
    return GraphSpec(
        feature_names=NODE_FEATURES,
        builder="delaunay",
        k=None,
        coordinates=("deta", "dphi"),
        coordinate_scale=(1.0, 1.0),
        graph_feature_names=GRAPH_FEATURES,
    )


def jet_targets(node_y: Tensor, batch: Tensor, num_graphs: int) -> tuple[Tensor, Tensor]:
    """(true energy [G], true rapidity [G]): the row of each jet's first node."""
    counts = torch.bincount(batch, minlength=num_graphs)
    first = torch.cumsum(counts, 0) - counts
    return node_y[first, 0], node_y[first, 1]


def calibrated_jets(
    x: Tensor, batch: Tensor, factor: Tensor, shift: Tensor, num_graphs: int
) -> tuple[Tensor, Tensor]:
    """(energy [G], rapidity [G]) of the jets made of the corrected constituents: massless
    constituents of energy ``factor * energy`` at (eta, dphi) summed per jet, then the
    rapidity shifted by ``shift`` [G, 1]."""
    energy = factor[:, 0] * x[:, _ENERGY]
    eta, dphi = x[:, _ETA], x[:, _DPHI]
    pt = energy / torch.cosh(eta)
    momenta = torch.stack(
        [energy, pt * torch.cos(dphi), pt * torch.sin(dphi), pt * torch.sinh(eta)], dim=1
    )
    e, px, py, pz = graph_sum(momenta, batch, num_graphs).unbind(dim=1)
    mass2 = (e.square() - px.square() - py.square() - pz.square()).clamp(min=0)
    transverse_mass = torch.sqrt(px.square() + py.square() + mass2).clamp(min=1e-9)
    return e, torch.asinh(pz / transverse_mass) + shift[:, 0]


def calibration_loss(
    energy: Tensor, rapidity: Tensor, true_energy: Tensor, true_rapidity: Tensor, loss: str
) -> Tensor:
    """The energy term (``loss``: LGK or MSE of r = E / E_true) plus the weighted mean
    absolute rapidity difference."""
    ratio = energy / true_energy
    if loss == "lgk":
        energy_term = lgk_loss(ratio, ALPHA, BETA)
    elif loss == "mse":
        energy_term = (1.0 - ratio).square().mean()
    else:
        msg = f"calibration: unknown loss {loss!r}; choose from {NODE_LOSSES['calibration']}"
        raise ValueError(msg)
    return energy_term + RAPIDITY_WEIGHT * (rapidity - true_rapidity).abs().mean()


def _build(training: NodeData, settings: TrainSettings) -> CalibrationGNN:
    model = CalibrationGNN(
        len(NODE_FEATURES), len(GRAPH_FEATURES), hidden=settings.hidden, num_layers=settings.layers
    )
    assert training.graphs.u is not None
    model.set_scaling(torch.from_numpy(training.graphs.x), torch.from_numpy(training.graphs.u))
    return model


def _loss(model: torch.nn.Module, batch: Tensors, settings: TrainSettings) -> Tensor:
    assert batch.node_y is not None
    factor, shift = model(*batch.inputs)
    energy, rapidity = calibrated_jets(batch.x, batch.batch, factor, shift, batch.num_graphs)
    true_energy, true_rapidity = jet_targets(batch.node_y, batch.batch, batch.num_graphs)
    return calibration_loss(
        energy, rapidity, true_energy, true_rapidity, settings.loss or NODE_LOSSES["calibration"][0]
    )


@torch.no_grad()
def predict_jets(model: torch.nn.Module, data: NodeData) -> dict[str, np.ndarray]:
    """The calibrated ``energy`` and ``rapidity`` [G] of every jet of ``data`` and the
    ``factor`` [N] of every constituent, :data:`PER_CALL` jets at a time."""
    model.eval()
    out: dict[str, list[np.ndarray]] = {"energy": [], "rapidity": [], "factor": []}
    for start in range(0, len(data), PER_CALL):
        part = Tensors.of(data.graphs.select(np.arange(start, min(start + PER_CALL, len(data)))))
        factor, shift = model(*part.inputs)
        energy, rapidity = calibrated_jets(part.x, part.batch, factor, shift, part.num_graphs)
        out["energy"].append(energy.numpy())
        out["rapidity"].append(rapidity.numpy())
        out["factor"].append(factor[:, 0].numpy())
    return {name: np.concatenate(values).astype(np.float64) for name, values in out.items()}


def response_in_bins(
    energy: np.ndarray, true_energy: np.ndarray, edges: Sequence[float] = ENERGY_BINS
) -> list[dict[str, float]]:
    """Per truth-energy bin [lo, hi): jets, response (median of E / E_true) and resolution
    (half the 16-84 % interquantile range of E / E_true over its median); bins without a
    jet are left out."""
    ratio = np.asarray(energy, dtype=np.float64) / np.asarray(true_energy, dtype=np.float64)
    rows = []
    for lo, hi in itertools.pairwise(edges):
        inside = (true_energy >= lo) & (true_energy < hi)
        if not inside.any():
            continue
        q16, median, q84 = np.quantile(ratio[inside], (0.16, 0.5, 0.84))
        rows.append(
            {
                "e_true_min": float(lo),
                "e_true_max": float(hi),
                "jets": int(inside.sum()),
                "response": float(median),
                "resolution": float(0.5 * (q84 - q16) / median),
            }
        )
    return rows


def at_bound(
    factor: np.ndarray, low: float, high: float, tolerance: float = 0.01
) -> dict[str, Any]:
    """How many factors sit at either bound: within ``tolerance`` of the range
    ``high - low`` from it (a sigmoid never reaches its bound exactly)."""
    margin = tolerance * (high - low)
    at_low = int((factor <= low + margin).sum())
    at_high = int((factor >= high - margin).sum())
    return {
        "constituents": int(factor.size),
        "at_min": at_low,
        "at_max": at_high,
        "fraction_at_min": at_low / max(factor.size, 1),
        "fraction_at_max": at_high / max(factor.size, 1),
        "tolerance": margin,
    }


def plot_calibration(
    responses: Mapping[str, list[dict[str, float]]],
    factors: Mapping[str, np.ndarray],
    bounds: tuple[float, float],
    path: Path,
) -> Path:
    """One PNG: response and resolution vs truth energy of every entry of ``responses``
    (rows of :func:`response_in_bins`) and the distributions of the correction
    ``factors`` with their ``bounds``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for (name, rows), style in zip(responses.items(), ("o--", "s-", "^-", "v-"), strict=False):
        centre = [np.sqrt(r["e_true_min"] * r["e_true_max"]) for r in rows]
        axes[0].plot(centre, [r["response"] for r in rows], style, label=name)
        axes[1].plot(centre, [r["resolution"] for r in rows], style, label=name)
    for ax, label in ((axes[0], "response: median E / E_true"), (axes[1], "resolution")):
        ax.set_xscale("log")
        ax.set_xlabel("truth jet energy (GeV)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].axhline(1.0, color="grey", lw=0.8)
    for name, factor in factors.items():
        axes[2].hist(factor, bins=120, range=(0, max(bounds) * 1.05), histtype="step", label=name)
    for bound in bounds:
        axes[2].axvline(bound, color="red", lw=0.8)
    axes[2].set_xlabel("energy correction factor (red: bounds)")
    axes[2].set_ylabel("constituents")
    axes[2].set_yscale("log")
    axes[2].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def evaluate(model: CalibrationGNN, data: NodeData) -> tuple[dict[str, Any], np.ndarray]:
    """(metrics, factors [N]) of ``data``: response and resolution per truth-energy bin
    before and after calibration, the factors at their bounds and their quantiles, the
    rms rapidity residuals before and after."""
    graphs = data.graphs
    assert graphs.node_y is not None and graphs.u is not None
    true_energy, true_rapidity = (
        t.numpy().astype(np.float64)
        for t in jet_targets(
            torch.from_numpy(graphs.node_y), torch.from_numpy(graphs.batch), len(data)
        )
    )
    reco_energy = np.bincount(graphs.batch, graphs.x[:, _ENERGY].astype(np.float64), len(data))
    reco_rapidity = graphs.u[:, GRAPH_FEATURES.index("jet_rapidity")].astype(np.float64)
    jets = predict_jets(model, data)
    hp = model.hyperparameters
    quantiles = (0.05, 0.5, 0.95)
    metrics = {
        "jets": len(data),
        "constituents": graphs.num_nodes,
        "uncalibrated": response_in_bins(reco_energy, true_energy),
        "calibrated": response_in_bins(jets["energy"], true_energy),
        "factor_bounds": at_bound(jets["factor"], hp["min_factor"], hp["max_factor"]),
        "factor_quantiles": dict(
            zip(map(str, quantiles), np.quantile(jets["factor"], quantiles).tolist(), strict=True)
        ),
        "rapidity_residual_rms": {
            "uncalibrated": float(np.sqrt(np.mean((reco_rapidity - true_rapidity) ** 2))),
            "calibrated": float(np.sqrt(np.mean((jets["rapidity"] - true_rapidity) ** 2))),
        },
    }
    return metrics, jets["factor"]


def _evaluate(
    model: torch.nn.Module,
    validation: NodeData,
    training: NodeData,
    out: Path,
    settings: TrainSettings,
) -> dict[str, Any]:
    assert isinstance(model, CalibrationGNN)
    metrics, factor = evaluate(model, validation)
    loss = settings.loss or NODE_LOSSES["calibration"][0]
    name = f"calibrated ({loss})"
    plot_calibration(
        {"uncalibrated": metrics["uncalibrated"], name: metrics["calibrated"]},
        {name: factor},
        (model.hyperparameters["min_factor"], model.hyperparameters["max_factor"]),
        out / "calibration.png",
    )
    return {"validation_metrics": metrics, "plots": ["loss.png", "calibration.png"]}


def _summary(metrics: dict[str, Any]) -> str:
    found = metrics["validation_metrics"]
    rows = zip(found["uncalibrated"], found["calibrated"], strict=True)
    bounds = found["factor_bounds"]
    return (
        "validation response / resolution per truth-energy bin (uncalibrated -> calibrated): "
        + "; ".join(
            f"{a['e_true_min']:.0f}-{a['e_true_max']:.0f} GeV {a['response']:.3f} / "
            f"{a['resolution']:.3f} -> {b['response']:.3f} / {b['resolution']:.3f}"
            for a, b in rows
        )
        + f"; factors at the minimum: {bounds['at_min']}, at the maximum: {bounds['at_max']} "
        f"of {bounds['constituents']}"
    )


KIND = NodeLevelKind(
    read=read_calibration_graphs,
    build=_build,
    graph_spec=lambda training: calibration_graph_spec(),
    loss=_loss,
    evaluate=_evaluate,
    loss_label="energy loss + rapidity term",
    summary=_summary,
)
