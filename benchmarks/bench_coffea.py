"""e2e_gnn's dask-awkward column against coffea.ml_tools.torch_wrapper: the same trained model
on the same NanoAOD file, events/s and whether the scores agree.

The model: an EdgeConvTagger (64 wide, 3 EdgeConv blocks, mean aggregation, mean+max pooling)
over each event's jets (pt, eta, phi, mass), kNN k = 8 in (eta, phi), trained for --steps
full-batch steps on the file's 200 events to tell the events whose scalar sum of jet pt
(HT) is above the file's median - a toy target (the file's ``Jet_hadronFlavour`` is almost
never 5): what matters here is that both paths run the same weights, with scores spread
over (0, 1). e2e_gnn exports it to ONNX (graph spec and checksum in the file) and scores it
with ``tag_objects(jets, "jets.onnx")``, nothing else to write.

torch_wrapper runs TorchScript on numpy arrays of fixed shape, so a coffea user writes what
``PaddedEdgeConvTagger`` and ``JetTagger.prepare_awkward`` below are: the jets padded to
MAX_JETS (events with more are cut), the kNN graph rebuilt inside the model on the padded
block (dense distances + topk, padding masked out), EdgeConv, masked mean and max pooling,
and the weights copied over. Tracing the ragged model instead bakes one event's node count
into the trace (it then fails on the next event), so this rewrite is what it takes.

Measured in one process, one thread each (torch and ONNX Runtime), on the same jets:
1. tagging alone: the jets already in memory (eager awkward arrays);
2. the dask-awkward graph over ``uproot.dask`` (COPIES links to the file, one partition each)
   computed on the synchronous scheduler: reading included, as in an analysis.
Both columns are compared event by event (max |difference| of the scores).

    python benchmarks/bench_coffea.py [--repeat 5] [--copies 6] [--steps 40] [--layers 3] [--quick]

Writes benchmarks/results/coffea.json and prints a markdown table.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import torch

import _common

ROOT = Path(__file__).resolve().parents[1]
NANOAOD = ROOT / ".." / "shared" / "data" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
FIELDS = ("pt", "eta", "phi", "mass")
MAX_JETS = 16  # a torch_wrapper user's fixed shape: this file has at most 11 jets per event


class PaddedEdgeConvTagger(torch.nn.Module):
    """The EdgeConvTagger's forward on padded jets, as a coffea user rewrites it for
    torch_wrapper: features [B, F, J] (zeros where ``mask`` [B, J] is 0) -> scores [B, C]
    (the sigmoid of the logits, as e2e_gnn's export writes it).

    The kNN graph of each event is built here from its (eta, phi) like e2e_gnn's builder:
    positions in float32, squared distances in float64, the k nearest other jets of each
    jet as its sources, fewer when the event has fewer jets."""

    def __init__(self, model: torch.nn.Module, k: int, coordinates: list[int]) -> None:
        super().__init__()
        self.k = k
        self.coordinates = coordinates
        self.relu_after_aggregation: bool = model.hyperparameters.get("plain_last", False)
        self.register_buffer("feature_mean", model.feature_mean.clone())
        self.register_buffer("feature_std", model.feature_std.clone())
        self.convs = torch.nn.ModuleList([conv.nn for conv in model.convs])
        self.head = model.head

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = features.transpose(1, 2)  # [B, J, F]
        valid = mask > 0  # [B, J]
        batch, jets = valid.shape
        pos = x[:, :, self.coordinates].double()
        distance = (pos[:, :, None, :] - pos[:, None, :, :]).square().sum(-1)  # [B, J, J]
        no_edge = ~valid[:, None, :] | torch.eye(jets, dtype=torch.bool, device=x.device)
        distance = distance.masked_fill(no_edge, float("inf"))
        nearest, source = distance.topk(min(self.k, jets), dim=-1, largest=False)  # [B, J, k]
        edge = torch.isfinite(nearest) & valid[:, :, None]
        degree = edge.sum(-1, keepdim=True).clamp(min=1)
        rows = torch.arange(batch, device=x.device)[:, None, None]
        h = (x - self.feature_mean) / self.feature_std
        for mlp in self.convs:
            target = h[:, :, None, :].expand(-1, -1, source.shape[-1], -1)
            message = mlp(torch.cat([target, h[rows, source] - target], dim=-1))
            h = (message * edge[..., None]).sum(2) / degree  # mean over incoming edges; 0 if none
            if self.relu_after_aggregation:
                h = torch.relu(h)
        count = valid.sum(1, keepdim=True).clamp(min=1)
        mean = (h * valid[..., None]).sum(1) / count
        top = h.masked_fill(~valid[..., None], float("-inf")).amax(1)
        return torch.sigmoid(self.head(torch.cat([mean, top], dim=-1)))  # as the export does


def jet_tagger_class() -> type:
    """coffea's torch_wrapper with the preparation a user writes (pad, stack, mask)."""
    from coffea.ml_tools.torch_wrapper import torch_wrapper

    class JetTagger(torch_wrapper):
        def prepare_awkward(self, jets: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
            lib = self.get_awkward_lib(jets)

            def pad(values: Any) -> Any:
                padded = lib.pad_none(values, MAX_JETS, axis=1, clip=True)
                return lib.values_astype(lib.fill_none(padded, 0.0), np.float32)

            features = lib.concatenate([pad(jets[f])[:, np.newaxis, :] for f in FIELDS], axis=1)
            return (features, pad(lib.ones_like(jets.pt))), {}

        def validate_numpy_input(self, *args: np.ndarray, **kwargs: np.ndarray) -> None:
            pass  # the shapes are the ones prepare_awkward makes

    return JetTagger


def wrapper_column(wrapper: Any, jets: Any) -> Any:
    """torch_wrapper's score per event, None for an event without jets (like tag_objects)."""
    lib = wrapper.get_awkward_lib(jets)
    return lib.mask(wrapper(jets)[:, 0], lib.num(jets, axis=1) > 0)


def read_jets() -> tuple[ak.Array, np.ndarray]:
    import uproot

    events = uproot.open(NANOAOD)["Events"].arrays([f"Jet_{f}" for f in FIELDS])
    jets = ak.zip({f: events[f"Jet_{f}"] for f in FIELDS})
    ht = ak.to_numpy(ak.sum(jets.pt, axis=1))
    return jets, (ht > np.median(ht)).astype(np.float32)


def train(
    jets: ak.Array, label: np.ndarray, steps: int, hidden: int = 64, layers: int = 3
) -> tuple[torch.nn.Module, Any]:
    """The EdgeConvTagger and its graph spec, trained on the events with jets."""
    from e2e_gnn.graphs.from_frames import graphs_from_spec
    from e2e_gnn.nn.models import EdgeConvTagger
    from e2e_gnn.spec import GraphSpec

    spec = GraphSpec(
        feature_names=FIELDS, k=8, coordinates=("eta", "phi"), coordinate_scale=(1.0, 1.0)
    )
    counts = ak.to_numpy(ak.num(jets, axis=1))
    has = counts > 0
    x = np.stack([ak.to_numpy(ak.flatten(jets[f])) for f in FIELDS], axis=1).astype(np.float32)
    graphs = graphs_from_spec(x, np.concatenate([[0], np.cumsum(counts[has])]), spec)
    inputs = [torch.from_numpy(a) for a in (graphs.x, graphs.edge_index, graphs.batch)]
    target = torch.from_numpy(label[has])[:, None]
    torch.manual_seed(0)
    model = EdgeConvTagger(len(FIELDS), hidden=hidden, num_layers=layers)
    model.set_feature_scaling(inputs[0])
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(*inputs), target)
        loss.backward()
        optimiser.step()
    return model.eval(), spec


def export(model: torch.nn.Module, spec: Any, folder: Path) -> tuple[Path, Path]:
    """The model as e2e_gnn's ONNX file and as the TorchScript file torch_wrapper loads."""
    from e2e_gnn.export import export_onnx
    from e2e_gnn.export.parity import default_example
    from e2e_gnn.spec import ModelSpec

    onnx_path, script_path = folder / "jets.onnx", folder / "jets_padded.pt"
    model_spec = ModelSpec(
        name="jets",
        model_class="EdgeConvTagger",
        hyperparameters=model.hyperparameters,
        graph=spec,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(model, model_spec, onnx_path, default_example(model_spec))
    return onnx_path, padded_torchscript(model, spec, script_path)


def padded_torchscript(model: torch.nn.Module, spec: Any, path: Path) -> Path:
    """The TorchScript file of the padded rewrite of ``model`` (graph spec ``spec``)."""
    coordinates = [FIELDS.index(c) for c in spec.coordinates]
    padded = PaddedEdgeConvTagger(model, spec.k, coordinates).eval()
    torch.jit.script(padded).save(str(path))
    return path


def measure(args: Any) -> dict[str, Any]:
    import dask
    import dask_awkward as dak
    import uproot

    from e2e_gnn.runtime.dask_awkward import tag_objects

    torch.set_num_threads(1)
    jets, label = read_jets()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        model, spec = train(jets, label, args.steps, layers=args.layers)
        train_s = time.perf_counter() - start
        onnx_path, script_path = export(model, spec, work)
        wrapper = jet_tagger_class()(str(script_path), expected_output_shape=(None, 1))
        ours = ak.to_numpy(ak.fill_none(tag_objects(jets, onnx_path), np.nan))
        theirs = ak.to_numpy(ak.fill_none(wrapper_column(wrapper, jets), np.nan))
        eager = _common.interleaved(
            {
                "e2e_gnn tag_objects": _common.timer(lambda: tag_objects(jets, onnx_path)),
                "coffea torch_wrapper": _common.timer(lambda: wrapper_column(wrapper, jets)),
            },
            args.repeat,
        )
        (work / "nano").mkdir()
        files = {}
        for i in range(args.copies):
            (work / "nano" / f"copy{i}.root").symlink_to(NANOAOD.resolve())
            files[str(work / "nano" / f"copy{i}.root")] = "Events"

        def lazy_jets() -> Any:
            events = uproot.dask(files, open_files=False)
            return dak.zip({f: events[f"Jet_{f}"] for f in FIELDS})

        columns = {
            "e2e_gnn tag_objects": lambda: tag_objects(lazy_jets(), onnx_path),
            "coffea torch_wrapper": lambda: wrapper_column(wrapper, lazy_jets()),
        }
        computed = {}

        def compute(name: str) -> None:
            (computed[name],) = dask.compute(columns[name](), scheduler="sync")

        lazy = _common.interleaved(
            {name: _common.timer(lambda name=name: compute(name)) for name in columns},
            max(1, args.repeat // 2),
        )
    events = len(jets)
    has = ~np.isnan(ours)
    lazy_ours = ak.to_numpy(ak.fill_none(computed["e2e_gnn tag_objects"], np.nan))
    lazy_theirs = ak.to_numpy(ak.fill_none(computed["coffea torch_wrapper"], np.nan))
    assert np.array_equal(np.isnan(theirs), ~has), "the columns disagree on the empty events"
    return {
        "events": events,
        "events_with_jets": int(has.sum()),
        "max_jets_per_event": int(ak.max(ak.num(jets, axis=1))),
        "torch_wrapper_padding": MAX_JETS,
        "model": f"EdgeConvTagger hidden 64, {args.layers} EdgeConv layer(s), mean aggr., kNN "
        "k=8 in (eta, phi)",
        "training": {
            "steps": args.steps,
            "seconds": round(train_s, 1),
            "label_mean": float(label.mean()),
        },
        "events_per_s": {
            "tagging alone (jets in memory)": {
                name: round(events / min(s), 1) for name, s in eager.items()
            },
            f"dask-awkward over uproot.dask, {args.copies} partitions, sync scheduler": {
                name: round(events * args.copies / min(s), 1) for name, s in lazy.items()
            },
        },
        "scores_agree": {
            "max_abs_score_difference": float(np.max(np.abs(ours[has] - theirs[has]))),
            "max_abs_score_difference_dask": float(np.nanmax(np.abs(lazy_ours - lazy_theirs))),
            "score_range": [float(np.nanmin(ours)), float(np.nanmax(ours))],
            "score_std": float(np.nanstd(ours)),
            "scores_between_0.01_and_0.99": int(np.sum((ours > 0.01) & (ours < 0.99))),
        },
        "user_code_lines": {
            "e2e_gnn": 1,
            "torch_wrapper": len(inspect.getsource(PaddedEdgeConvTagger).splitlines())
            + len(inspect.getsource(jet_tagger_class).splitlines())
            + len(inspect.getsource(wrapper_column).splitlines()),
        },
    }


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--copies", type=int, default=6, help="partitions of the lazy run")
    parser.add_argument("--steps", type=int, default=40, help="training steps")
    parser.add_argument("--layers", type=int, default=3, help="EdgeConv layers of the tagger")
    args = _common.parse(parser, {"repeat": 1, "copies": 1, "steps": 5, "layers": 1})
    if not NANOAOD.is_file():
        msg = f"the NanoAOD file is not at {NANOAOD} (see ../shared/data/README.md)"
        raise SystemExit(msg)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    bench = _common.Bench("coffea", args)
    result = measure(args)
    print("\n| run | e2e_gnn tag_objects | coffea torch_wrapper |\n|---|---:|---:|")
    for run, rates in result["events_per_s"].items():
        print(
            f"| {run} | {rates['e2e_gnn tag_objects']:.0f} events/s | "
            f"{rates['coffea torch_wrapper']:.0f} events/s |"
        )
    print(f"scores: {result['scores_agree']}")
    bench.write(result, onnxruntime=1, torch=1)


if __name__ == "__main__":
    main()
