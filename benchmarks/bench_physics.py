"""The displaced-photon study (seed 000) on a generated sample: the 3D CNN and the ARMAConv
GNN on the same layered showers, their AUC and background rejection at 50 % signal
efficiency inclusively and in bins of the decay distance L_xy, and the BatchNorm study
(the 3D CNN with and without a BatchNorm layer, same seed).

Steps: ``e2e-gnn generate --task displaced_photon`` -> ``e2e-gnn frames --kind layered``
-> the split by event of ``e2e-gnn train`` -> each model trained with the same settings
``train`` uses -> validation scores joined to ``Jet_lxy`` of the generator file by the
frames' (event, index) columns. Signal in an L_xy bin is compared with all background
(prompt photons have no L_xy).

Usage: python benchmarks/bench_physics.py [--events 8000] [--epochs 8] [--quick]
Writes benchmarks/results/physics.json and physics_*.png, prints markdown tables.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import uproot

import _common
from e2e_gnn.train.data import LabelledFrames, read_labelled_frames, split_by_event
from e2e_gnn.train.metrics import rejection_at, roc_auc
from e2e_gnn.train.plots import plot_rejection
from e2e_gnn.train.settings import VALIDATION_FRACTION, TrainSettings
from e2e_gnn.train.taggers import fit, prepare
from e2e_gnn.train.trainer import BATCH_NORMS, train

# cm, as the generator writes Jet_lxy: the ECAL's first layer is at 131.5 cm
LXY_BINS_CM = (0.0, 10.0, 30.0, 60.0, 100.0, 131.5, np.inf)
# Keras' BatchNormalization default (momentum 0.99 = torch momentum 0.01)
KERAS_MOMENTUM = 0.01
KERAS_EPSILON = 1e-3
# few optimiser steps per epoch, like the study's batches of 5000 images
LARGE_BATCH = 512


def make_sample(workdir: Path, events: int, seed: int) -> tuple[Path, Path]:
    """(generator file, layered frames file) of ``events`` displaced-photon events."""
    generated, frames = workdir / "displaced.root", workdir / "layered.root"
    _common.generate_events(generated, "displaced_photon", events, seed)
    _common.run_cli("frames", str(generated), "--kind", "layered", "--out", str(frames))
    return generated, frames


def lxy_of(generated: Path, frames: LabelledFrames) -> np.ndarray:
    """``Jet_lxy`` (cm; -1 without a truth photon, 0 for a prompt one) of every frame, joined on the
    generator's ``event`` branch and the frame's jet ``index``."""
    tree = uproot.open(generated)["Events"]
    arrays = tree.arrays(["event", "Jet_lxy"], library="ak")
    position = {int(e): i for i, e in enumerate(np.asarray(arrays["event"]))}
    jets = arrays["Jet_lxy"]
    return np.array(
        [
            jets[position[int(e)]][int(i)]
            for e, i in zip(frames.ids["event"], frames.ids["index"], strict=True)
        ],
        dtype=np.float64,
    )


def performance(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """AUC and rejection at 50 % signal efficiency; when no background passes there the
    rejection is only known to exceed the number of background frames (``rejection_above``)."""
    rejection = rejection_at(labels, scores, 0.5)
    background = int((labels == 0).sum())
    return {
        "auc": round(roc_auc(labels, scores), 4),
        "rejection_at_50": None if np.isinf(rejection) else round(rejection, 2),
        "rejection_above": background if np.isinf(rejection) else None,
    }


def _rejection(result: dict[str, Any]) -> str:
    if result["rejection_at_50"] is None:
        return f"> {result['rejection_above']}"
    return f"{result['rejection_at_50']:.1f}"


def lxy_table(labels: np.ndarray, scores: np.ndarray, lxy: np.ndarray) -> list[dict[str, Any]]:
    """Per L_xy bin: the signal frames in it against all background frames."""
    rows = []
    background = labels == 0
    for low, high in pairwise(LXY_BINS_CM):
        signal = (labels == 1) & (lxy >= low) & (lxy < high)
        row: dict[str, Any] = {"lxy_cm": [low, None if np.isinf(high) else high]}
        row["signal"] = int(signal.sum())
        if signal.sum() >= 5:
            keep = signal | background
            row.update(performance(labels[keep], scores[keep]))
        rows.append(row)
    return rows


def _set_momentum(model: torch.nn.Module, momentum: float) -> None:
    for module in model.modules():
        if isinstance(module, BATCH_NORMS):
            module.momentum = momentum


@dataclass(frozen=True)
class Variant:
    batch_norm: bool
    recalibrate: bool = True
    momentum: float | None = None  # None: torch's 0.1
    batch_size: int | None = None  # None: the settings'
    # the study's inputs: unit-sum images fed unscaled, Keras' BatchNorm epsilon
    study_inputs: bool = False


def _as_in_the_study(model: torch.nn.Module) -> None:
    model.channel_scale.fill_(1.0)  # type: ignore[operator]
    for module in model.modules():
        if isinstance(module, BATCH_NORMS):
            module.eps = KERAS_EPSILON


def batchnorm_study(
    training: LabelledFrames,
    validation: LabelledFrames,
    settings: TrainSettings,
    variants_run: int | None = None,
) -> dict[str, Any]:
    """The 3D CNN, same seed and data: without BatchNorm; with it after the first
    convolution, statistics recomputed after each epoch (what ``train`` does); with torch's
    running averages (momentum 0.1); with Keras' (momentum 0.01, the study's framework);
    with few optimiser steps per epoch (large batches, as the study's 5000-image batches
    give); with the study's unscaled unit-sum images and Keras' epsilon."""
    large = LARGE_BATCH
    variants = {
        "no BatchNorm": Variant(False),
        "BatchNorm, recalibrated (train's default)": Variant(True),
        "BatchNorm, torch running averages (momentum 0.1)": Variant(True, recalibrate=False),
        "BatchNorm, Keras running averages (momentum 0.99)": Variant(
            True, recalibrate=False, momentum=KERAS_MOMENTUM
        ),
        f"no BatchNorm, batch {large}": Variant(False, batch_size=large),
        f"BatchNorm, recalibrated, batch {large}": Variant(True, batch_size=large),
        f"BatchNorm, Keras running averages, batch {large}": Variant(
            True, recalibrate=False, momentum=KERAS_MOMENTUM, batch_size=large
        ),
        "no BatchNorm, unscaled unit-sum images": Variant(False, study_inputs=True),
        "BatchNorm, Keras running averages and epsilon, unscaled unit-sum images": Variant(
            True, recalibrate=False, momentum=KERAS_MOMENTUM, study_inputs=True
        ),
    }
    results = {}
    for name, variant in list(variants.items())[:variants_run]:
        batch_norm = variant.batch_norm
        job = prepare("cnn3d", training, validation, replace(settings, batch_norm=batch_norm))
        if variant.momentum is not None:
            _set_momentum(job.model, variant.momentum)
        if variant.study_inputs:
            _as_in_the_study(job.model)
        batch_size = variant.batch_size or settings.batch_size
        start = time.perf_counter()
        history = train(
            job.model,
            job.training,
            epochs=settings.epochs,
            lr=settings.lr,
            batch_size=batch_size,
            seed=settings.seed,
            validation=job.validation,
            name=name,
            recalibrate_batch_norm=variant.recalibrate,
        )
        results[name] = {
            "batch_size": batch_size,
            "steps_per_epoch": -(-len(training) // batch_size),
            "validation_auc_per_epoch": [round(a, 4) for a in history.validation_auc],
            "training_loss_per_epoch": [round(v, 4) for v in history.train_loss],
            "validation_loss_per_epoch": [round(v, 4) for v in history.validation_loss],
            "seconds": round(time.perf_counter() - start, 1),
        }
    return results


def plot_lxy(tables: dict[str, list[dict[str, Any]]], path: Path) -> None:
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    for name, rows in tables.items():
        done = [row for row in rows if "auc" in row]
        labels = [f"{r['lxy_cm'][0]:g}-{r['lxy_cm'][1] or 'inf'}" for r in done]
        left.plot(labels, [r["auc"] for r in done], marker="o", label=name)
        rejection = [r["rejection_at_50"] or r["rejection_above"] for r in done]
        right.plot(labels, rejection, marker="o", label=name)
    left.set(xlabel="L_xy of the signal photon (cm)", ylabel="AUC vs prompt photons")
    right.set(
        xlabel="L_xy of the signal photon (cm)",
        ylabel="rejection at 50 % signal eff. (bound: all bkg)",
    )
    right.set_yscale("log")
    left.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_batchnorm(study: dict[str, Any], path: Path) -> None:
    """Validation AUC and validation loss per epoch (both in inference mode)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, result in study.items():
        epochs = range(1, len(result["validation_auc_per_epoch"]) + 1)
        left.plot(epochs, result["validation_auc_per_epoch"], marker="o", label=name)
        right.plot(epochs, result["validation_loss_per_epoch"], marker="o", label=name)
    left.set(xlabel="epoch", ylabel="validation AUC", title="3D CNN, same seed")
    right.set(xlabel="epoch", ylabel="validation loss (BCE)", yscale="log")
    left.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--events", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--study-variants", type=int, help="run only the first N variants of the BatchNorm study"
    )
    args = _common.parse(parser, {"events": 300, "epochs": 1, "study_variants": 2})
    bench = _common.Bench("physics", args)
    torch.set_num_threads(2)
    settings = TrainSettings(
        epochs=args.epochs, seed=args.seed, width=16, dense=64, hidden=32, lr=1e-3
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generated, frames_path = make_sample(Path(tmp), args.events, args.seed + 1)
        sample_seconds = time.perf_counter() - start
        frames, unlabelled = read_labelled_frames([frames_path])
        training, validation = split_by_event(frames, VALIDATION_FRACTION, settings.seed)
        lxy = lxy_of(generated, validation)
    models, scores, tables = {}, {}, {}
    for kind, name in (("cnn3d", "3D CNN"), ("arma", "ARMAConv GNN")):
        start = time.perf_counter()
        trained = fit(prepare(kind, training, validation, settings), settings)
        seconds = time.perf_counter() - start
        scores[name] = trained.scores
        tables[name] = lxy_table(validation.label, trained.scores, lxy)
        models[kind] = {
            "model_class": type(trained.job.model).__name__,
            "parameters": trained.job.parameters,
            "settings": settings.of(kind),
            "seconds": round(seconds, 1),
            "validation_auc_per_epoch": [round(a, 4) for a in trained.history.validation_auc],
            **performance(validation.label, trained.scores),
            "lxy_bins": tables[name],
        }
    args.out.mkdir(parents=True, exist_ok=True)
    plot_rejection(validation.label, scores, args.out / "physics_rejection.png")
    plot_lxy(tables, args.out / "physics_lxy.png")
    study = batchnorm_study(training, validation, settings, args.study_variants)
    plot_batchnorm(study, args.out / "physics_batchnorm.png")
    result = {
        "sample": {
            "events": args.events,
            "frame_shape": list(frames.data.shape[1:]),
            "labelled_frames": len(frames),
            "unlabelled_skipped": unlabelled,
            "training": {"frames": len(training), "signal": training.signal},
            "validation": {"frames": len(validation), "signal": validation.signal},
            "seconds": round(sample_seconds, 1),
        },
        "models": models,
        "batchnorm": study,
    }
    bench.write(result)
    print("| model | parameters | AUC | rejection at 50 % | seconds |")
    print("|---|---|---|---|---|")
    for kind, model in models.items():
        print(
            f"| {kind} | {model['parameters']:,} | {model['auc']:.3f} | "
            f"{_rejection(model)} | {model['seconds']:.0f} |"
        )
    print("\n| L_xy (cm) | signal | " + " | ".join(f"{n} AUC / R50" for n in tables) + " |")
    print("|---|---|" + "---|" * len(tables))
    for i, row in enumerate(next(iter(tables.values()))):
        cells = [
            f"{t[i]['auc']:.3f} / {_rejection(t[i])}" if "auc" in t[i] else "-"
            for t in tables.values()
        ]
        high = row["lxy_cm"][1]
        print(f"| {row['lxy_cm'][0]:g}-{high or 'inf'} | {row['signal']} | " + " | ".join(cells))
    print("\n| 3D CNN variant | steps/epoch | validation AUC per epoch |")
    print("|---|---|---|")
    for name, variant in study.items():
        aucs = ", ".join(f"{a:.3f}" for a in variant["validation_auc_per_epoch"])
        print(f"| {name} | {variant['steps_per_epoch']} | {aucs} |")


if __name__ == "__main__":
    main()
