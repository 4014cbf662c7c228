"""Learning curves of the CNN-vs-GNN pairs: test AUC of the CNN and of the GNN as a function
of the number of training frames, trained with the classes reweighted to a common (pT, eta)
distribution, for every task that has such a pair.

Tasks (each: ``e2e-gnn generate --task <task>`` -> ``e2e-gnn frames --kind <kind>``, frames
carrying their object's pt and eta): ``tau`` (tau vs QCD jet frames, cnn vs edgeconv),
``quark_gluon`` (quark vs gluon jet frames, cnn vs edgeconv), ``displaced_photon``
(displaced vs prompt photons, layered images: cnn3d vs arma). One split by event per task
(``e2e-gnn train``'s) gives a fixed test set; each training size is a seeded subset of the
training frames, each model trained with ``train``'s settings plus ``--reweight pt,eta``,
the frames read in chunks. Per point: test AUC (plain and with the test set reweighted
the same way), background rejection at 50 % and 80 % signal efficiency, AUC in pT bins,
training seconds and epochs. Per task, the AUC of the object pT alone says how much the
kinematics could tag.

Usage: python benchmarks/bench_learning_curve.py [--tasks tau quark_gluon displaced_photon]
       [--events 1500] [--sizes 30 60 120 300] [--seeds 0] [--epochs 5] [--min-steps 16]
       [--max-test 250] [--quick]
Writes benchmarks/results/learning_curve.json and learning_curve.png, prints markdown tables.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

import _common
from e2e_gnn.train.data import FrameChunks, read_frame_chunks, split_by_event
from e2e_gnn.train.metrics import (
    binned_performance,
    performance,
    quantile_edges,
    roc_auc,
)
from e2e_gnn.train.reweight import parse_reweight, reweight
from e2e_gnn.train.settings import VALIDATION_FRACTION, TrainSettings
from e2e_gnn.train.taggers import fit, prepare

#: task -> (frames kind, CNN kind, GNN kind)
PAIRS = {
    "tau": ("jet", "cnn", "edgeconv"),
    "quark_gluon": ("jet", "cnn", "edgeconv"),
    "displaced_photon": ("layered", "cnn3d", "arma"),
}
REWEIGHT = "pt,eta"
PT_BINS = 3
CHUNK = 128


def make_sample(workdir: Path, task: str, events: int, seed: int) -> Path:
    """The frames file of ``events`` generated events of ``task``."""
    generated, frames = workdir / f"{task}.root", workdir / f"{task}_frames.root"
    _common.generate_events(generated, task, events, seed)
    _common.run_cli("frames", str(generated), "--kind", PAIRS[task][0], "--out", str(frames))
    generated.unlink()
    return frames


def subset(training: FrameChunks, size: int, seed: int) -> FrameChunks:
    """A seeded subset of ``size`` training frames with the pool's signal fraction (at least
    one frame of each class)."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(training), dtype=bool)
    signal = round(size * training.signal / len(training))
    signal = min(max(signal, 1), size - 1)
    for label, count in ((1, signal), (0, size - signal)):
        keep[rng.permutation(np.flatnonzero(training.label == label))[:count]] = True
    return training.select(keep)


def reweight_spec(size: int) -> str:
    """``REWEIGHT`` with bins for ``size`` frames: about 8 per (pT, eta) cell, at most the
    default 6 x 6 (1 x 1 for a handful: class balance only)."""
    bins = int(np.clip(round(math.sqrt(size / 8)), 1, 6))
    return ",".join(f"{name}:{bins}" for name in REWEIGHT.split(","))


def epochs_for(size: int, settings: TrainSettings, min_steps: int) -> int:
    """At least ``settings.epochs``, more for small sets: every point gets ``min_steps``
    optimiser steps (a fixed epoch count would under-train the small sizes)."""
    steps_per_epoch = math.ceil(size / settings.batch_size)
    return max(settings.epochs, math.ceil(min_steps / steps_per_epoch))


def run_point(
    kind: str,
    training: FrameChunks,
    test: FrameChunks,
    settings: TrainSettings,
    test_weights: np.ndarray,
    pt_edges: np.ndarray,
) -> dict[str, Any]:
    start = time.perf_counter()
    trained = fit(prepare(kind, training, test, settings), settings)
    seconds = time.perf_counter() - start
    scores = trained.scores
    return {
        **performance(test.label, scores),
        "auc_reweighted": round(roc_auc(test.label, scores, test_weights), 4),
        "pt_bins": binned_performance(test.label, scores, test.columns["pt"], pt_edges),
        "parameters": trained.job.parameters,
        "epochs": settings.epochs,
        "seconds": round(seconds, 1),
    }


def study(task: str, frames_path: Path, args: Any, settings: TrainSettings) -> dict[str, Any]:
    frames, unlabelled = read_frame_chunks([frames_path], CHUNK)
    training, test = split_by_event(frames, VALIDATION_FRACTION, settings.seed)
    if len(test) > args.max_test:  # a seeded subset: every point predicts the test set often
        test = subset(test, args.max_test, settings.seed)
    spec = parse_reweight(REWEIGHT)
    test_weights = reweight(test.columns, test.label, spec, f"the {task} test frames")
    pt_edges = quantile_edges(test.columns["pt"], PT_BINS)
    pt_auc = roc_auc(test.label, test.columns["pt"])
    _, cnn, gnn = PAIRS[task]
    result: dict[str, Any] = {
        "frames_kind": PAIRS[task][0],
        "frame_shape": list(frames.frame_shape),
        "models": {"cnn": cnn, "gnn": gnn},
        "labelled_frames": len(frames),
        "unlabelled_skipped": unlabelled,
        "training_pool": {"frames": len(training), "signal": training.signal},
        "test": {"frames": len(test), "signal": test.signal},
        # how much the kinematics alone tag: the object pT (and -pT) as the score
        "pt_alone_auc": round(max(pt_auc, 1 - pt_auc), 4),
        "pt_edges": pt_edges.tolist(),
        "points": [],
    }
    for size in args.sizes:
        if size > len(training):
            print(f"{task}: size {size} > {len(training)} training frames: skipped")
            continue
        for seed in args.seeds:
            part = subset(training, size, seed)
            epochs = epochs_for(len(part), settings, args.min_steps)
            point_settings = replace(
                settings, seed=seed, epochs=epochs, reweight=reweight_spec(len(part))
            )
            point: dict[str, Any] = {
                "size": len(part),
                "signal": part.signal,
                "seed": seed,
                "reweight": point_settings.reweight,
            }
            for role, kind in (("cnn", cnn), ("gnn", gnn)):
                point[role] = run_point(kind, part, test, point_settings, test_weights, pt_edges)
            print(
                f"{task} size {len(part)} seed {seed}: CNN {point['cnn']['auc']:.3f} "
                f"({point['cnn']['seconds']:.0f} s), GNN {point['gnn']['auc']:.3f} "
                f"({point['gnn']['seconds']:.0f} s)",
                flush=True,
            )
            result["points"].append(point)
    return result


def _mean_std(points: list[dict[str, Any]], size: int, role: str, key: str) -> tuple[float, float]:
    values = [p[role][key] for p in points if p["size"] == size]
    return float(np.mean(values)), float(np.std(values))


def plot(tasks: dict[str, dict[str, Any]], path: Path) -> None:
    figure, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 4), squeeze=False)
    for axis, (task, result) in zip(axes[0], tasks.items(), strict=True):
        sizes = sorted({p["size"] for p in result["points"]})
        for role, marker, colour in (("cnn", "o", "C0"), ("gnn", "s", "C3")):
            for key, line in (("auc", "-"), ("auc_reweighted", "--")):
                stats = [_mean_std(result["points"], s, role, key) for s in sizes]
                axis.errorbar(
                    sizes,
                    [m for m, _ in stats],
                    yerr=[s for _, s in stats],
                    marker=marker,
                    linestyle=line,
                    color=colour,
                    capsize=3,
                    label=f"{result['models'][role]}"
                    + (" (test reweighted)" if key == "auc_reweighted" else ""),
                )
        axis.axhline(result["pt_alone_auc"], color="grey", lw=1, ls=":", label="pT alone")
        axis.set(xscale="log", xlabel="training frames", ylabel="test AUC", title=task)
        axis.set_xticks(sizes, [str(size) for size in sizes])
        axis.minorticks_off()
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _rejection(entry: dict[str, Any], key: str) -> str:
    value = entry[key]
    return f"> {entry['rejection_above']}" if value is None else f"{value:.1f}"


def print_tables(tasks: dict[str, dict[str, Any]]) -> None:
    print(
        "| task | training frames | seed | model | AUC | AUC (test reweighted) | R50 | R80 | "
        "AUC per pT bin | epochs | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for task, result in tasks.items():
        for point in result["points"]:
            for role in ("cnn", "gnn"):
                entry = point[role]
                bins = " / ".join(
                    f"{b['auc']:.3f}" if "auc" in b else "-" for b in entry["pt_bins"]
                )
                print(
                    f"| {task} | {point['size']} | {point['seed']} | {result['models'][role]} | "
                    f"{entry['auc']:.3f} | {entry['auc_reweighted']:.3f} | "
                    f"{_rejection(entry, 'rejection_at_50')} | "
                    f"{_rejection(entry, 'rejection_at_80')} | {bins} | {entry['epochs']} | "
                    f"{entry['seconds']:.0f} |"
                )


def main() -> None:
    parser = _common.parser(__doc__)
    # The defaults are the run the README cites (11 min on 2 cores); docs/learning_curve.md
    # gives the larger two-seed command.
    parser.add_argument("--tasks", nargs="+", choices=sorted(PAIRS), default=list(PAIRS))
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 60, 120, 300])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--min-steps", type=int, default=16)
    parser.add_argument("--max-test", type=int, default=250, help="test frames at most")
    args = _common.parse(
        parser,
        {  # one task: the others run the same code (physics covers cnn3d vs arma)
            "tasks": ["tau"],
            "events": 120,
            "sizes": [8, 16],
            "seeds": [0],
            "epochs": 1,
            "min_steps": 1,
            "max_test": 40,
        },
    )
    bench = _common.Bench("learning_curve", args)
    torch.set_num_threads(2)
    settings = TrainSettings(epochs=args.epochs, reweight=REWEIGHT)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            start = time.perf_counter()
            frames = make_sample(Path(tmp), task, args.events, seed=1)
            sample = {"events": args.events, "seconds": round(time.perf_counter() - start)}
            print(f"{task}: sample of {args.events} events in {sample['seconds']} s")
            results[task] = {"sample": sample, **study(task, frames, args, settings)}
            # written after every task, so that a long run keeps what it finished
            args.out.mkdir(parents=True, exist_ok=True)
            plot(results, args.out / "learning_curve.png")
            bench.write(
                {
                    "reweight": REWEIGHT,
                    "settings": {k: v for k, v in asdict(settings).items() if k != "seed"},
                    "sizes": args.sizes,
                    "seeds": args.seeds,
                    "min_steps": args.min_steps,
                    "max_test": args.max_test,
                    "tasks": results,
                },
                torch=2,
            )
    print_tables(results)


if __name__ == "__main__":
    main()
