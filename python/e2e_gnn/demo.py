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
import torch
from rich.console import Console
from rich.table import Table

from e2e_gnn.export import default_example, export_onnx
from e2e_gnn.frames.jet import JetFrameProducer
from e2e_gnn.frames.plot import plot_frames
from e2e_gnn.generate import generate
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.from_frames import graphs_from_frames
from e2e_gnn.io import load_events, write_graphs
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.runtime import Tagger
from e2e_gnn.spec import GraphSpec
from e2e_gnn.train import load_checkpoint, predict_logits, roc_auc, save_checkpoint, train
from e2e_gnn.train.plots import plot_roc

K_NEIGHBOURS = 16


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("runs/demo")
    task: str = "tau"
    events: int = 2000
    epochs: int = 4
    seed: int = 0
    workers: int = 2


def _jet_graphs(
    events_path: Path, out: Path, seed: int
) -> tuple[GraphBatch, GraphBatch, GraphSpec]:
    """Frames of the labelled jets, split by event into training and test graphs."""
    frames = JetFrameProducer()(load_events(events_path, "e2e_gnn"))
    labelled = frames.label >= 0
    plot_frames(
        frames.data[labelled],
        frames.label[labelled],
        frames.channel_names,
        out / "frames.png",
        class_names={0: "QCD jet", 1: "hadronic tau"},
    )
    events = frames.event[labelled]
    rng = np.random.default_rng(seed)
    test_events = rng.permutation(np.unique(events))[: len(np.unique(events)) * 3 // 10]
    is_test = np.isin(events, test_events)
    data, labels = frames.data[labelled], frames.label[labelled].astype(np.float32)
    split = []
    for part in (~is_test, is_test):
        graphs = graphs_from_frames(data[part], k=K_NEIGHBOURS)
        split.append(
            GraphBatch(graphs.x, graphs.edge_index, graphs.batch, graphs.num_graphs, labels[part])
        )
    spec = GraphSpec(
        feature_names=("row", "col", *frames.channel_names),
        builder="knn",
        k=K_NEIGHBOURS,
        loop=False,
        coordinates=("row", "col"),
        coordinate_scale=(1.0, 1.0),
    )
    return split[0], split[1], spec


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
    train_graphs, test_graphs, graph_spec = _jet_graphs(events_path, out, config.seed)
    write_graphs(
        out / "test_graphs.root",
        test_graphs.x,
        test_graphs.edge_index,
        test_graphs.batch,
        test_graphs.num_graphs,
        feature_names=graph_spec.feature_names,
        label=test_graphs.y,
    )
    for name, graphs in (("training", train_graphs), ("test", test_graphs)):
        console.print(
            f"{name}: {graphs.num_graphs} jets ({int(graphs.y.sum())} signal), "
            f"{graphs.num_nodes / graphs.num_graphs:.0f} nodes per jet, k = {K_NEIGHBOURS}"
        )

    console.rule("3. train the EdgeConv tagger (torch)")
    model = EdgeConvTagger(len(graph_spec.feature_names), hidden=32, num_layers=2)
    model.set_feature_scaling(torch.from_numpy(train_graphs.x))
    losses = train(model, train_graphs, epochs=config.epochs, seed=config.seed)
    console.print("loss per epoch: " + ", ".join(f"{loss:.3f}" for loss in losses))
    provenance = {"data": f"{config.task}, {config.events} events, seed {config.seed}"}
    save_checkpoint(out / "tagger.pt", model, "EdgeConvTagger", graph_spec, provenance)

    console.rule("4. export-onnx with the parity check")
    model, spec = load_checkpoint(out / "tagger.pt", f"{config.task}_tagger")
    report = export_onnx(model, spec, out / "tagger.onnx", default_example(spec))
    console.print(report.table(), markup=False, soft_wrap=True)

    console.rule("5. inference: torch vs onnxruntime vs native")
    torch_scores = 1 / (1 + np.exp(-predict_logits(model, test_graphs)))
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
