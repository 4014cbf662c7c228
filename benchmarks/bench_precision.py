"""Reduced precision (issue 16): float32 vs int8 vs fp16 models in ONNX Runtime.

Every reduced model is derived from the float32 export as ``e2e-gnn export-onnx
--precision`` derives it (:func:`e2e_gnn.export.precision.reduced_graph`); the variants
export-onnx does not offer are measured next to it to show why it does not:

- ``int8``: dynamic quantisation (what ``--precision int8`` writes: int8 weights per tensor,
  uint8 activations quantised per call); ``int8, uint8 weights`` and ``int8, per channel``:
  the same with uint8 weights or one scale per output channel; ``int8, static QDQ``: static
  quantisation of the MatMul/Gemm inputs, calibrated on the validation file itself;
- ``fp16``: what ``--precision fp16`` writes (float16 weights and activations, float32
  inputs and outputs).

1. ``readme_event``: speed of the README event's tagger (10 jets, 1,111 nodes, kNN k = 16,
   17,776 edges, default EdgeConvTagger: three EdgeConv layers 64 wide, mean aggregation;
   random weights, so no accuracy is quoted for it).
2. ``trained``: a trained tagger on its labelled validation file (default: the main job's,
   ``make demo`` -> runs/demo/tagger.pt and runs/demo/test_graphs.root; recorded as skipped
   when they are missing): speed of one call over the whole file, the largest |score
   difference| to float32, the ROC AUC and its change
   (:func:`e2e_gnn.export.precision.physics_check`, the check export-onnx runs).

Times: medians of interleaved runs on one ONNX Runtime thread (intra- and inter-op), CPU
time of this process. Every model's time is also given against the float32 model's floor on
the same input (``float32_floor``, benchmarks/floors.py: FLOPs at the machine's float32
matmul peak, bytes at its memory bandwidth; ``x_floor``): the work the reduced models stand
in for. Their int8 or float16 kernels may have a higher peak than float32's, so a reduced
model can in principle go below that floor.

Usage: ``PYTHONPATH=python python benchmarks/bench_precision.py
[--checkpoint C --validation V] [--repeat 20] [--quick]``; writes
benchmarks/results/precision.json. ``--quick`` uses a small random tagger and synthetic
labelled graphs instead of the checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

import floors
from _common import Bench, interleaved, parse, parser, timer
from bench_layers import knn_event
from e2e_gnn.export import default_example, export_onnx
from e2e_gnn.export.parity import training_scale
from e2e_gnn.export.precision import (
    ValidationSample,
    physics_check,
    read_validation,
    reduced_graph,
    with_metadata_of,
)
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, graphs_from_features, random_features
from e2e_gnn.io import write_graphs
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.spec import ModelSpec
from e2e_gnn.train.checkpoint import load_checkpoint, save_checkpoint


def session(model: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def variants(float32: Path, work: Path, sample: ValidationSample | None) -> dict[str, Path]:
    """float32, the models export-onnx writes and the alternatives, as files in ``work``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    work.mkdir(parents=True, exist_ok=True)
    found = {"float32": float32}
    for precision in ("int8", "fp16"):
        found[precision] = work / f"{precision}.onnx"
        onnx.save_model(reduced_graph(float32, precision, work), str(found[precision]))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser's advice on pre-processing
    found["int8, uint8 weights"] = work / "int8_u8.onnx"
    quantize_dynamic(float32, found["int8, uint8 weights"], weight_type=QuantType.QUInt8)
    found["int8, per channel"] = work / "int8_channel.onnx"
    quantize_dynamic(float32, found["int8, per channel"], per_channel=True)
    if sample is not None:
        graphs = sample.inputs
        assert isinstance(graphs, GraphBatch)

        class Calibration(CalibrationDataReader):  # type: ignore[misc]
            def __init__(self) -> None:
                chunks = [
                    list(range(s, min(s + 64, len(graphs)))) for s in range(0, len(graphs), 64)
                ]
                self.feeds = iter([graphs.select(c).inputs() for c in chunks])

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self.feeds, None)

        found["int8, static QDQ"] = work / "int8_static.onnx"
        quantize_static(
            float32,
            found["int8, static QDQ"],
            Calibration(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Gemm", "MatMul"],
            per_channel=True,
        )
    root.setLevel(level)
    source = onnx.load(str(float32))
    for path in found.values():  # the quantiser keeps the float32 model's checksum
        onnx.save_model(with_metadata_of(onnx.load(str(path)), source), str(path))
    return found


def median_ms(
    models: dict[str, Path], feed: dict[str, np.ndarray], repeat: int
) -> dict[str, float]:
    sessions = {name: session(path) for name, path in models.items()}
    timers: dict[str, Callable[[], float]] = {
        name: timer(lambda s=s: s.run(None, feed), clock=time.process_time)
        for name, s in sessions.items()
    }
    samples = interleaved(timers, repeat, warmup=2)
    return {name: round(1e3 * statistics.median(values), 3) for name, values in samples.items()}


def operators(model: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in onnx.load(str(model)).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    wanted = ("Gemm", "MatMul", "MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear", "Cast")
    return {op: counts[op] for op in wanted if op in counts}


def float32_floor(
    float32: Path, feed: dict[str, np.ndarray], peaks: dict[str, Any]
) -> dict[str, Any]:
    """The floor of the float32 model on ``feed`` (benchmarks/floors.py), without the
    per-operator detail."""
    floor = floors.model_floor(float32.read_bytes(), feed, peaks)
    return {k: v for k, v in floor.items() if k != "by_op"}


def bench_readme_event(work: Path, repeat: int, peaks: dict[str, Any]) -> dict[str, Any]:
    torch.manual_seed(0)
    model = EdgeConvTagger(4, hidden=64, num_layers=3).eval()
    graph = dataclasses.replace(TOY_GRAPH_SPEC, k=16)
    spec = ModelSpec(
        name="readme", model_class="EdgeConvTagger", hyperparameters=model.hyperparameters,
        graph=graph,
    )  # fmt: skip
    float32 = work / "readme.onnx"
    export_onnx(model, spec, float32, default_example(spec))
    models = variants(float32, work / "readme_", None)
    feed = {name: tensor.numpy() for name, tensor in knn_event(10, 16, 4, seed=0).items()}
    times = median_ms(models, feed, repeat)
    reference = session(float32).run(None, feed)[0]
    floor = float32_floor(float32, feed, peaks)
    rows = []
    for name, path in models.items():
        got = session(path).run(None, feed)[0]
        rows.append(
            {
                "model": name,
                "ms": times[name],
                "speedup": round(times["float32"] / times[name], 2),
                "file_kB": round(path.stat().st_size / 1e3, 1),
                "max_abs_diff_float32": float(np.abs(got - reference).max()),
                "operators": operators(path),
                **floors.against(times[name], floor),
            }
        )
    return {
        "nodes": len(feed["x"]),
        "edges": feed["edge_index"].shape[1],
        "float32_floor": floor,
        "rows": rows,
    }


def quick_tagger(work: Path) -> tuple[Path, Path]:
    """A small random tagger and a synthetic labelled graph file (for --quick only)."""
    torch.manual_seed(0)
    model = EdgeConvTagger(len(TOY_GRAPH_SPEC.feature_names), hidden=16, num_layers=2)
    save_checkpoint(work / "quick.pt", model, "EdgeConvTagger", TOY_GRAPH_SPEC, {})
    rng = np.random.default_rng(0)
    sizes = rng.integers(5, 30, size=40).tolist()
    graphs = graphs_from_features(random_features(rng, sizes, 4), TOY_GRAPH_SPEC)
    path = write_graphs(
        work / "quick.root", graphs, feature_names=TOY_GRAPH_SPEC.feature_names,
        label=np.arange(40) % 2,
    )  # fmt: skip
    return work / "quick.pt", path


def bench_trained(
    checkpoint: Path, validation: Path, work: Path, repeat: int, peaks: dict[str, Any]
) -> dict[str, Any]:
    model, spec = load_checkpoint(checkpoint, "tagger")
    float32 = work / "tagger.onnx"
    export_onnx(model, spec, float32, default_example(spec, scale=training_scale(model)))
    sample = read_validation(spec, validation)
    models = variants(float32, work / "tagger_", sample)
    assert isinstance(sample.inputs, GraphBatch), "a graph tagger"
    feed = sample.inputs.inputs()
    times = median_ms(models, feed, repeat)
    floor = float32_floor(float32, feed, peaks)
    rows = []
    for name, path in models.items():
        check = physics_check(float32, path, name, sample, 1.0, 1.0)
        rows.append(
            {
                "model": name,
                "ms": times[name],
                "speedup": round(times["float32"] / times[name], 2),
                "file_kB": round(path.stat().st_size / 1e3, 1),
                "max_score_diff": check.max_score_diff,
                "auc": round(check.auc_reduced, 5),
                "auc_change": round(check.auc_change, 5),
                "operators": operators(path),
                **floors.against(times[name], floor),
            }
        )
        print(rows[-1], flush=True)
    return {
        "checkpoint": str(checkpoint),
        "hyperparameters": model.hyperparameters,
        "provenance": spec.provenance,
        "validation": str(validation),
        "graphs": len(sample.labels),
        "nodes": int(feed["x"].shape[0]),
        "edges": int(feed["edge_index"].shape[1]),
        "signal": int((sample.labels == 1).sum()),
        "background": int((sample.labels == 0).sum()),
        "float32_floor": floor,
        "rows": rows,
    }


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--repeat", type=int, default=20)
    arguments.add_argument("--checkpoint", type=Path, default=Path("runs/demo/tagger.pt"))
    arguments.add_argument("--validation", type=Path, default=Path("runs/demo/test_graphs.root"))
    args = parse(arguments, {"repeat": 2})
    torch.set_num_threads(1)
    bench = Bench("precision", args)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result["readme_event"] = bench_readme_event(work, args.repeat, bench.peaks())
        for row in result["readme_event"]["rows"]:
            print(row, flush=True)
        checkpoint, validation = args.checkpoint, args.validation
        if args.quick:  # the same code on a small model, whether or not `make demo` ran
            checkpoint, validation = quick_tagger(work)
        if checkpoint.is_file() and validation.is_file():
            result["trained"] = bench_trained(
                checkpoint, validation, work, args.repeat, bench.peaks()
            )
        else:
            result["trained"] = {
                "skipped": f"{checkpoint} or {validation} missing: run `make demo` or give "
                "--checkpoint and --validation"
            }
            print(result["trained"]["skipped"], flush=True)
    bench.write(result, onnxruntime_intra_op=1, onnxruntime_inter_op=1)


if __name__ == "__main__":
    main()
