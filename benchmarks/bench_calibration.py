"""The constituent-calibration study (seed 001) on a generated sample: the CalibrationGNN
trained with the LGK loss and, as the comparison, with the MSE loss, on the same split;
jet energy response (median of E / E_true) and resolution (half the 16-84 % interquantile
range over the median) in bins of truth energy before and after calibration, the
constituents whose correction factor sits at a bound, and the rapidity residuals.

Steps: ``e2e-gnn generate --task quark_gluon`` (QCD dijets) -> ``e2e-gnn frames --kind
constituents`` (tower graphs of anti-kT R=0.2 jets matched to truth R=0.2 jets) -> the split
by event of ``e2e-gnn train --model calibration`` -> both losses trained with the same
settings -> evaluated on the validation jets.

Usage: python benchmarks/bench_calibration.py [--events 6000] [--epochs 6] [--quick]
Writes benchmarks/results/calibration.json and calibration.png, prints markdown tables.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import _common
from e2e_gnn.train.calibration import evaluate, plot_calibration
from e2e_gnn.train.node_level import fit_nodes, node_kind, split_nodes_by_event
from e2e_gnn.train.settings import VALIDATION_FRACTION, TrainSettings


def make_sample(workdir: Path, events: int, seed: int) -> Path:
    """The constituent graphs of ``events`` generated QCD events."""
    generated, graphs = workdir / "qcd.root", workdir / "constituents.root"
    _common.generate_events(generated, "quark_gluon", events, seed, mpi=True)
    _common.run_cli(
        "frames",
        str(generated),
        "--kind",
        "constituents",
        "--out",
        str(graphs),
        "--step-size",
        "1000",
    )
    return graphs


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = _common.parse(parser, {"events": 200, "epochs": 1})
    bench = _common.Bench("calibration", args)
    torch.set_num_threads(2)
    kind = node_kind("calibration")
    base = TrainSettings(
        epochs=args.epochs, seed=args.seed, hidden=32, layers=2, batch_size=256, lr=2e-3
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        data = kind.read([make_sample(Path(tmp), args.events, args.seed + 1)])
        sample_seconds = time.perf_counter() - start
    training, validation = split_nodes_by_event(data, VALIDATION_FRACTION, base.seed)
    counts = np.bincount(data.graphs.batch)
    responses, factors, models = {}, {}, {}
    for loss in ("lgk", "mse"):
        settings = replace(base, loss=loss)
        torch.manual_seed(settings.seed)
        model = kind.build(training, settings)
        start = time.perf_counter()
        history = fit_nodes(model, kind, training, validation, settings, f"calibration ({loss})")
        seconds = time.perf_counter() - start
        metrics, factors[loss] = evaluate(model, validation)
        responses.setdefault("uncalibrated", metrics.pop("uncalibrated"))
        responses[f"calibrated ({loss})"] = metrics["calibrated"]
        models[loss] = {
            "settings": settings.of("calibration"),
            "parameters": sum(p.numel() for p in model.parameters()),
            "training_seconds": round(seconds, 1),
            "loss_per_epoch": {
                "training": history.train_loss,
                "validation": history.validation_loss,
            },
            **metrics,
        }
    args.out.mkdir(parents=True, exist_ok=True)
    hp = model.hyperparameters
    plot_calibration(
        responses, factors, (hp["min_factor"], hp["max_factor"]), args.out / "calibration.png"
    )
    result = {
        "sample": {
            "task": "quark_gluon",
            "events": args.events,
            "generator_seed": args.seed + 1,
            "jets": len(data),
            "constituents": data.graphs.num_nodes,
            "constituents_per_jet": {
                "min": int(counts.min()),
                "median": float(np.median(counts)),
                "max": int(counts.max()),
            },
            "training_jets": len(training),
            "validation_jets": len(validation),
            "seconds": round(sample_seconds, 1),
        },
        "uncalibrated": responses["uncalibrated"],
        "models": models,
    }
    bench.write(result)
    print("| E_true (GeV) | jets | response raw / LGK / MSE | resolution raw / LGK / MSE |")
    print("|---|---|---|---|")
    rows = zip(
        responses["uncalibrated"],
        responses["calibrated (lgk)"],
        responses["calibrated (mse)"],
        strict=True,
    )
    for raw, lgk, mse in rows:
        print(
            f"| {raw['e_true_min']:.0f}-{raw['e_true_max']:.0f} | {raw['jets']} | "
            f"{raw['response']:.3f} / {lgk['response']:.3f} / {mse['response']:.3f} | "
            f"{raw['resolution']:.3f} / {lgk['resolution']:.3f} / {mse['resolution']:.3f} |"
        )
    for loss, model in models.items():
        bounds = model["factor_bounds"]
        print(
            f"{loss}: {model['training_seconds']} s, factors at min {bounds['at_min']} / at max "
            f"{bounds['at_max']} of {bounds['constituents']}, rapidity rms "
            f"{model['rapidity_residual_rms']}"
        )


if __name__ == "__main__":
    main()
