"""Per-call cost of each inference path on small jets: what ONNX Runtime itself costs, and
what the Python layers above it (Tagger, backends, graph building) add.

One jet of 6-12 nodes per call (200 jets), one thread, CPU time of this process per call,
best of --repeats interleaved rounds. Paths, from the floor up:

  onnxruntime floor           session.run of a one-node model (Identity) with the same
                              inputs: ONNX Runtime's own fixed cost per call
  onnxruntime session.run     the model, raw Python onnxruntime
  native Tagger.run           the C++ Tagger through its bindings (C++ input checks)
  OnnxRuntimeBackend.run      e2e_gnn's Python onnxruntime backend
  NativeBackend.run           e2e_gnn's native backend
  Tagger(onnxruntime)         the public Tagger on a prebuilt GraphBatch
  Tagger(native)              the same on the native backend
and graph building from raw hits (``x`` [N, F] and node offsets):
  kNN binding                 the native kNN builder alone, raw binding
  graphs_from_spec binding    the native spec -> positions -> edges call the Python path uses
                              (the spec read once by the C++ reader)
  graphs_from_spec binding (JSON spec)
                              the same call given the spec's JSON, read on every call
  graphs_from_spec            e2e_gnn.graphs.graphs_from_spec (GraphBatch included)
  native Tagger.tag_nodes     hits -> scores in C++ (one binding call)
  Tagger(native).tag_nodes    hits -> scores through the Python Tagger

The ``overheads`` of the result are differences of these (e.g. Python Tagger = Tagger(native)
- native Tagger.run). The native calls are made with positional arguments, as the Python
backends make them. The models: the tiny GNN of the Triton tests (the result's
``us_per_call`` and ``overheads_us``: about 25 us of compute per jet, so the differences are
the layers' own cost), then EdgeConvTagger's default exported here (parity-checked; the
result's ``edgeconv_default``): with its ~200 us of compute per jet, any Python work between
two calls also slows the next call down by a few us (caches), and the round-to-round noise
is as large as the layers' cost. ``--model`` measures only the given exported file,
``--quick`` only the tiny GNN.

Floors (``x_floor`` of the result, per overhead): no call can cost less than ONNX Runtime's
fixed cost, so it is the floor of every layer stacked on a call, ``x_floor = (fixed +
layer) / fixed`` (1 for the fixed cost itself); the model's compute above it is measured
against the model's own floor per jet (benchmarks/floors.py on the 200 jets in one batch,
per jet); the native Tagger minus raw onnxruntime is a difference of two paths that both
run the model, not a layer: no floor.

Usage: python benchmarks/bench_per_call.py [--repeats 20] [--quick]
Writes benchmarks/results/per_call.json and prints a markdown table.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

import _common
import floors
from bench_scaling import ROOT, TINY, export_default
from e2e_gnn._native_loader import load_native
from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.model_file import ModelFile
from e2e_gnn.runtime import Tagger
from e2e_gnn.runtime.backends import NativeBackend, OnnxRuntimeBackend

JETS = 200
DEFAULT_MODEL = "EdgeConvTagger default (hidden 64, 3 EdgeConv), exported here"
FIXED = "ONNX Runtime fixed cost (floor)"
COMPUTE = "model compute above the floor"
NATIVE_VS_RAW = "native Tagger.run (bindings, C++ checks) minus raw Python onnxruntime"


def floor_model(features: int) -> bytes:
    """x, edge_index, batch -> Identity(x): a call that does no work."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["scores"])],
        "floor",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features]),
            helper.make_tensor_value_info("edge_index", TensorProto.INT64, [2, "E"]),
            helper.make_tensor_value_info("batch", TensorProto.INT64, ["N"]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", features])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def session(model: bytes | str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def measure(model: Path, repeats: int, peaks: dict[str, Any]) -> tuple[dict[str, float], float]:
    """Microseconds per call of every path, and the model's floor in microseconds per jet
    (of all jets in one batch; ``peaks``: :func:`floors.peaks`)."""
    spec = ModelFile.read(model).spec
    graph = spec.graph
    assert graph is not None, f"{model} is not a graph model"
    native = load_native()
    rng = np.random.default_rng(0)
    hits = [
        rng.normal(size=(6 + j % 7, len(graph.feature_names))).astype(np.float32)
        for j in range(JETS)
    ]
    ptrs = [np.array([0, len(x)], dtype=np.int64) for x in hits]
    batches = [graphs_from_spec(x, p, graph) for x, p in zip(hits, ptrs, strict=True)]
    feeds = [b.inputs() for b in batches]
    arrays = [(f["x"], f["edge_index"], f["batch"]) for f in feeds]
    columns = [graph.feature_names.index(c) for c in graph.coordinates]
    scale = np.asarray(graph.coordinate_scale, dtype=np.float32)
    positions = [np.ascontiguousarray(x[:, columns] * scale) for x in hits]
    spec_json = graph.to_json()
    native_spec = native.GraphSpec.from_json(spec_json)

    floor = session(floor_model(len(graph.feature_names)))
    raw = session(str(model))
    c_tagger = native.Tagger(str(model))
    backends = {"onnxruntime": OnnxRuntimeBackend(model), "native": NativeBackend(model)}
    taggers = {name: Tagger(model, backend=name) for name in backends}
    reference = raw.run(["scores"], feeds[0])[0]
    for tagger in taggers.values():  # same scores on every path before timing
        assert np.allclose(tagger(batches[0]), reference, atol=1e-5, rtol=0)
        assert np.allclose(tagger.tag_nodes(hits[0], ptrs[0]), reference, atol=1e-5, rtol=0)
    flat = c_tagger.tag_nodes(hits[0], ptrs[0])
    assert np.allclose(flat.reshape(reference.shape), reference, atol=1e-5, rtol=0)

    def loop(call: Callable[[int], object]) -> Callable[[], float]:
        return _common.timer(lambda: [call(j) for j in range(JETS)], JETS, time.process_time)

    k, loop_edges, periodic = graph.k or 1, graph.loop, -1
    paths = {
        "onnxruntime floor": loop(lambda j: floor.run(["scores"], feeds[j])),
        "onnxruntime session.run": loop(lambda j: raw.run(["scores"], feeds[j])),
        "native Tagger.run": loop(lambda j: c_tagger.run(*arrays[j])),
        "OnnxRuntimeBackend.run": loop(lambda j: backends["onnxruntime"].run(feeds[j])),
        "NativeBackend.run": loop(lambda j: backends["native"].run(feeds[j])),
        "Tagger(onnxruntime)": loop(lambda j: taggers["onnxruntime"](batches[j])),
        "Tagger(native)": loop(lambda j: taggers["native"](batches[j])),
        "kNN binding": loop(
            lambda j: native.knn_graph(positions[j], ptrs[j], k, loop_edges, periodic, 0.0, 1)
        ),
        "graphs_from_spec binding": loop(
            lambda j: native.graphs_from_spec(native_spec, hits[j], ptrs[j])
        ),
        "graphs_from_spec binding (JSON spec)": loop(
            lambda j: native.graphs_from_spec(spec_json, hits[j], ptrs[j])
        ),
        "graphs_from_spec": loop(lambda j: graphs_from_spec(hits[j], ptrs[j], graph)),
        "native Tagger.tag_nodes": loop(lambda j: c_tagger.tag_nodes(hits[j], ptrs[j])),
        "Tagger(native).tag_nodes": loop(lambda j: taggers["native"].tag_nodes(hits[j], ptrs[j])),
    }
    samples = _common.interleaved(paths, repeats)
    ptr = np.concatenate([[0], np.cumsum([len(x) for x in hits])]).astype(np.int64)
    every = graphs_from_spec(np.concatenate(hits), ptr, graph).inputs()
    floor = floors.model_floor(model.read_bytes(), every, peaks)
    us = {name: round(1e6 * min(values), 2) for name, values in samples.items()}
    return us, float(f"{floor['floor_ms'] * 1e3 / JETS:.4g}")


def overheads(us: dict[str, float]) -> dict[str, float]:
    """What each layer adds per call (microseconds), as differences of measured paths."""
    return {
        FIXED: us["onnxruntime floor"],
        COMPUTE: us["onnxruntime session.run"] - us["onnxruntime floor"],
        NATIVE_VS_RAW: us["native Tagger.run"] - us["onnxruntime session.run"],
        "Python Tagger above native Tagger.run": us["Tagger(native)"] - us["native Tagger.run"],
        "Python Tagger above raw onnxruntime": us["Tagger(onnxruntime)"]
        - us["onnxruntime session.run"],
        "Python graph building above the kNN binding": us["graphs_from_spec"] - us["kNN binding"],
        "Python graphs_from_spec above its binding": us["graphs_from_spec"]
        - us["graphs_from_spec binding"],
        "graphs_from_spec binding above the kNN binding": us["graphs_from_spec binding"]
        - us["kNN binding"],
        "reading the spec's JSON on every call": us["graphs_from_spec binding (JSON spec)"]
        - us["graphs_from_spec binding"],
        "Python hits->scores above C++ hits->scores": us["Tagger(native).tag_nodes"]
        - us["native Tagger.tag_nodes"],
    }


def x_floor(us: dict[str, float], model_floor_us: float) -> dict[str, float]:
    """Each overhead as a multiple of its floor (see the module docstring); the overheads
    without one are left out."""
    fixed = us["onnxruntime floor"]
    found = {}
    for name, layer in overheads(us).items():
        if name == FIXED:
            found[name] = 1.0
        elif name == COMPUTE:
            found[name] = round(layer / model_floor_us, 2)
        elif name != NATIVE_VS_RAW:
            found[name] = round((fixed + layer) / fixed, 2)
    return found


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--model", type=Path, help="exported model (default: see above)")
    parser.add_argument("--repeats", type=int, default=20)
    args = _common.parse(parser, {"repeats": 2})
    bench = _common.Bench("per_call", args)
    name = str(args.model or TINY.relative_to(ROOT))
    measured = {name: measure(args.model or TINY, args.repeats, bench.peaks())}
    if args.model is None and not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            default = export_default(Path(tmp) / "per_call.onnx")
            measured[DEFAULT_MODEL] = measure(default, args.repeats, bench.peaks())
    us, floor_us = measured[name]
    result: dict[str, object] = {
        "model": name,
        "jets": JETS,
        "nodes_per_jet": "6-12",
        "clock": "CPU time (process_time), best of interleaved rounds",
        "us_per_call": us,
        "overheads_us": {k: round(v, 2) for k, v in overheads(us).items()},
        "model_floor_us_per_jet": floor_us,
        "x_floor": x_floor(us, floor_us),
    }
    if DEFAULT_MODEL in measured:
        default_us, default_floor_us = measured[DEFAULT_MODEL]
        result["edgeconv_default"] = {
            "model": DEFAULT_MODEL,
            "us_per_call": default_us,
            "overheads_us": {k: round(v, 2) for k, v in overheads(default_us).items()},
            "model_floor_us_per_jet": default_floor_us,
            "x_floor": x_floor(default_us, default_floor_us),
        }
    bench.write(result, onnxruntime_intra_op=1)
    for model, (us, _) in measured.items():
        print(f"\n{model}\n\n| path (one jet of 6-12 nodes per call) | us per call |\n|---|---:|")
        for path, value in us.items():
            print(f"| {path} | {value:.1f} |")
        print("\n| what a layer adds | us per call |\n|---|---:|")
        for layer, value in overheads(us).items():
            print(f"| {layer} | {value:.1f} |")


if __name__ == "__main__":
    main()
