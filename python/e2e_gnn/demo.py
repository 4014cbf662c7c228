"""The main job: the whole data flow on a small sample generated on the fly.

Pythia8 hadronic-tau and QCD jets -> parametric detector -> ROOT file -> 125x125 jet
frames (CMS E2E) -> kNN graphs of the non-zero pixels -> EdgeConv tagger trained in torch
-> export-onnx with the parity check -> scores from torch, Python ONNX Runtime and the
native C++ runtime, compared, with the ROC curve and pictures of the frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from e2e_gnn.export import default_example, export_onnx
from e2e_gnn.frames.jet import JetFrameProducer
from e2e_gnn.frames.plot import plot_frames
from e2e_gnn.generate import generate
from e2e_gnn.io import load_events
from e2e_gnn.runtime import Tagger
from e2e_gnn.train import load_checkpoint, roc_auc
from e2e_gnn.train.data import (
    LabelledFrames,
    labelled_frames,
    split_by_event,
    write_labelled_graphs,
)
from e2e_gnn.train.plots import plot_roc
from e2e_gnn.train.settings import VALIDATION_FRACTION, TrainSettings
from e2e_gnn.train.taggers import fit, prepare


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("runs/demo")
    task: str = "tau"
    events: int = 2000
    epochs: int = 4
    seed: int = 0
    workers: int = 2


def _labelled_jets(events_path: Path, out: Path) -> LabelledFrames:
    """Frames of the labelled jets of the events, pictured in ``out/frames.png``."""
    frames = JetFrameProducer()(load_events(events_path, "e2e_gnn"))
    jets, _ = labelled_frames(
        frames.data, frames.channel_names, frames.label, frames.event, repr(str(events_path))
    )
    plot_frames(
        jets.data,
        jets.label,
        jets.channel_names,
        out / "frames.png",
        class_names={0: "QCD jet", 1: "hadronic tau"},
    )
    return jets


def run_demo(config: DemoConfig, console: Console) -> dict[str, float]:
    """Run the main job; returns the test ROC AUC of each backend."""
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    console.rule(f"1. generate: {config.events} Pythia8 events, task {config.task!r}")
    events_path = out / "events.root"
    generate(
        config.task, config.events, config.seed, events_path, workers=config.workers, mpi=False
    )

    console.rule("2. frames (125x125, E2E channels) -> kNN graphs of the non-zero pixels")
    training, test = split_by_event(
        _labelled_jets(events_path, out), VALIDATION_FRACTION, config.seed
    )
    settings = TrainSettings(epochs=config.epochs, seed=config.seed)
    job = prepare("edgeconv", training, test, settings)
    assert job.graph is not None
    test_graphs = job.validation
    write_labelled_graphs(out / "test_graphs.root", test_graphs, job.graph)
    for name, graphs in (("training", job.training), ("test", test_graphs)):
        console.print(
            f"{name}: {graphs.num_graphs} jets ({int(graphs.y.sum())} signal), "
            f"{graphs.num_nodes / graphs.num_graphs:.0f} nodes per jet, k = {settings.knn}"
        )

    console.rule("3. train the EdgeConv tagger (torch)")
    trained = fit(job, settings)
    provenance = {"data": f"{config.task}, {config.events} events, seed {config.seed}"}
    trained.save(out / "tagger.pt", provenance)

    console.rule("4. export-onnx with the parity check")
    model, spec = load_checkpoint(out / "tagger.pt", f"{config.task}_tagger")
    report = export_onnx(model, spec, out / "tagger.onnx", default_example(spec))
    console.print(report.table(), markup=False, soft_wrap=True)

    console.rule("5. inference: torch vs onnxruntime vs native")
    torch_scores = trained.scores[:, None]
    scores = {"torch": torch_scores}
    for backend in ("onnxruntime", "native"):
        with Tagger(out / "tagger.onnx", backend=backend) as tagger:
            scores[backend] = tagger(test_graphs)
    table = Table("backend", "ROC AUC (test)", "max |score - torch|")
    aucs = {}
    for backend, values in scores.items():
        aucs[backend] = roc_auc(test_graphs.y, values)
        table.add_row(backend, f"{aucs[backend]:.4f}", f"{np.abs(values - torch_scores).max():.2g}")
    console.print(table)
    plot_roc(test_graphs.y, {"EdgeConv tagger (native)": scores["native"]}, out / "roc.png")
    console.print(
        f"wrote {out / 'tagger.onnx'}, ROC curve {out / 'roc.png'}, frames {out / 'frames.png'}",
        soft_wrap=True,
    )
    console.print(
        f"score them again: e2e-gnn infer --model {out / 'tagger.onnx'} "
        f"--graphs {out / 'test_graphs.root'} --out {out / 'scores.root'}",
        soft_wrap=True,
    )
    return aucs
