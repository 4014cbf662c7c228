"""The main job: the whole data flow on a small sample generated on the fly.

Pythia8 hadronic-tau and QCD jets -> parametric detector -> ROOT file -> 125x125 jet
frames (CMS E2E) -> an EdgeConv tagger on kNN graphs of the non-zero pixels and a CNN on
the frames themselves, trained in torch on the same jets -> export-onnx with the parity
check -> scores from torch, Python ONNX Runtime and the native C++ runtime, compared, with
the ROC curves of both taggers and pictures of the frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich import filesize
from rich.console import Console
from rich.table import Table

from e2e_gnn.export import default_example, export_onnx
from e2e_gnn.export.parity import training_scale
from e2e_gnn.frames.jet import JET_CHANNEL_UNITS, JetFrameProducer
from e2e_gnn.frames.plot import plot_frames
from e2e_gnn.generate import generate
from e2e_gnn.graphs.batch import GraphBatch
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
from e2e_gnn.train.settings import MODEL_KINDS, VALIDATION_FRACTION, TrainSettings
from e2e_gnn.train.taggers import fit, prepare

# the models trained, by kind, and the stem of their files (the GNN keeps the name
# tagger.pt / tagger.onnx that the README and `infer`'s example use)
MODELS = {"edgeconv": "tagger", "cnn": "cnn"}


def written_files() -> list[tuple[str, str]]:
    """Every file the main job writes into its output directory, with what it holds."""
    files = [
        ("events.root", "generated events (generator schema v1)"),
        ("frames.png", "a few jet frames per class"),
        ("test_graphs.root", "the test jets' kNN graphs, input of `e2e-gnn infer`"),
    ]
    for kind, stem in MODELS.items():
        files.append((f"{stem}.pt", f"{MODEL_KINDS[kind]} checkpoint (torch)"))
        files.append((f"{stem}.onnx", f"{MODEL_KINDS[kind]} exported, parity-checked"))
    files.append(("roc.png", "ROC curves of both taggers (native runtime)"))
    return files


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
        frames.data,
        frames.channel_names,
        frames.label,
        frames.event,
        repr(str(events_path)),
        ids={"event": frames.event, "index": frames.index},
    )
    plot_frames(
        jets.data,
        jets.label,
        jets.channel_names,
        out / "frames.png",
        class_names={0: "QCD jet", 1: "hadronic tau"},
        units=JET_CHANNEL_UNITS,
    )
    return jets


def run_demo(config: DemoConfig, console: Console) -> dict[str, dict[str, float]]:
    """Run the main job; returns the test ROC AUC of each model (``edgeconv``, ``cnn``) on
    each backend."""
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
    jobs = {kind: prepare(kind, training, test, settings) for kind in MODELS}
    graph_spec = jobs["edgeconv"].graph
    test_graphs = jobs["edgeconv"].validation
    assert graph_spec is not None and isinstance(test_graphs, GraphBatch)
    write_labelled_graphs(out / "test_graphs.root", test_graphs, graph_spec, test.ids)
    for name, graphs in (("training", jobs["edgeconv"].training), ("test", test_graphs)):
        assert isinstance(graphs, GraphBatch) and graphs.y is not None
        console.print(
            f"{name}: {graphs.num_graphs} jets ({int(graphs.y.sum())} signal), "
            f"{graphs.num_nodes / graphs.num_graphs:.0f} nodes per jet, k = {settings.knn}"
        )

    console.rule("3. train the EdgeConv GNN and the CNN on the same jets (torch)")
    torch_scores = {}
    provenance = {"data": f"{config.task}, {config.events} events, seed {config.seed}"}
    for kind, job in jobs.items():
        trained = fit(job, settings)
        trained.save(out / f"{MODELS[kind]}.pt", provenance)
        torch_scores[kind] = trained.scores[:, None]

    console.rule("4. export-onnx with the parity check")
    for kind, stem in MODELS.items():
        model, spec = load_checkpoint(out / f"{stem}.pt", f"{config.task}_{kind}")
        example = default_example(spec, scale=training_scale(model))
        report = export_onnx(model, spec, out / f"{stem}.onnx", example)
        console.print(f"{MODEL_KINDS[kind]}: {stem}.onnx")
        console.print(report.table(), markup=False, soft_wrap=True)

    console.rule("5. inference: torch vs onnxruntime vs native")
    table = Table("model", "backend", "ROC AUC (test)", "max |score - torch|")
    aucs: dict[str, dict[str, float]] = {}
    native_scores = {}
    inputs = {"edgeconv": test_graphs, "cnn": test.data}
    for kind, stem in MODELS.items():
        scores = {"torch": torch_scores[kind]}
        for backend in ("onnxruntime", "native"):
            with Tagger(out / f"{stem}.onnx", backend=backend) as tagger:
                scores[backend] = tagger(inputs[kind])
        aucs[kind] = {backend: roc_auc(test.label, values) for backend, values in scores.items()}
        for backend, values in scores.items():
            difference = np.abs(values - torch_scores[kind]).max()
            table.add_row(
                MODEL_KINDS[kind], backend, f"{aucs[kind][backend]:.4f}", f"{difference:.2g}"
            )
        native_scores[f"{MODEL_KINDS[kind]} (native)"] = scores["native"]
    console.print(table)
    plot_roc(test.label, native_scores, out / "roc.png")
    console.print(f"wrote {out}/:", soft_wrap=True, markup=False)
    for name, what in written_files():
        path = out / name
        size = filesize.decimal(path.stat().st_size)
        console.print(f"  {name:<16} {size:>9}  {what}", soft_wrap=True, markup=False)
    console.print(
        f"score them again: e2e-gnn infer --model {out / 'tagger.onnx'} "
        f"--graphs {out / 'test_graphs.root'} --out {out / 'scores.root'}",
        soft_wrap=True,
    )
    return aucs
