"""How far a model runs from this machine's limits: the one implementation of the floors
the benchmark tables show (issue 16).

Machine peaks, measured once per run (:func:`peaks`, recorded in the JSON ``meta``):

- float32 matmul peak in GFLOP/s, on one thread and on all cores: ONNX Runtime's own
  MatMul (the kernels the models run on) for the models' shapes (``[E, 64] x [64, 64]``,
  ``[N, 128] x [128, 64]``) and a large square, the best of them;
- memory bandwidth in GB/s on one thread: a STREAM-like copy, add and triad (numpy) over
  arrays of 64 MiB each, larger than every cache of the machines here; the best of the
  three (STREAM's counting: bytes read + bytes written, no write-allocate traffic).

The work of one model on one concrete input (:func:`model_floor`), from the real tensor
shapes (the model runs once with every intermediate value exposed as an output):

- FLOPs: MatMul, Gemm and Conv exactly from the shapes (2 per multiply-add); reductions and
  scatters 1 per input element; data movement (Gather, Reshape, Concat, ...) none; every
  other op 1 per output element;
- bytes moved, two bounds: ``bytes_upper`` is the sum over nodes of their input and output
  tensors (views such as Reshape and metadata such as Shape move none), the traffic if no
  tensor stayed in cache between two nodes (an upper bound: the per-edge tensors of the
  README event, 4.5 MB each, do fit in L3); ``bytes_lower`` is the graph's inputs, weights
  and outputs, read or written once (perfect fusion).

The taken branch of an If is run and counted the same way; a Loop or Scan is refused.

The floor is ``floor_ms = max(FLOPs / matmul peak, bytes_lower / bandwidth)``: no
execution of the model can beat it on one thread. ``unfused_ms = max(FLOPs / matmul peak,
bytes_upper / bandwidth)`` is the time of the op-by-op execution with every tensor going
through memory; a time below it means tensors stayed in cache. A model's time is reported
as ``x_floor = ms / floor_ms``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from e2e_gnn import custom_ops

# (M, K, N) of the matmuls timed for the peak: the per-edge and per-node GEMMs of the
# README event's tagger (17,776 edges, 1,111 nodes, 64 wide) and a large square.
MATMUL_SHAPES = ((17776, 64, 64), (1111, 128, 64), (1024, 1024, 1024))
STREAM_BYTES = 64 * 2**20  # per array
MOVEMENT = frozenset(
    [
        "Gather",
        "GatherElements",
        "GatherND",
        "Reshape",
        "Shape",
        "Size",
        "Squeeze",
        "Unsqueeze",
        "Concat",
        "Split",
        "Slice",
        "Transpose",
        "Cast",
        "Identity",
        "Expand",
        "Flatten",
        "Constant",
        "ConstantOfShape",
        "Tile",
        "Range",
        "Pad",
        "NonZero",
        "Dropout",
    ]
)
# views and metadata: ONNX Runtime moves no tensor data for these
NO_TRAFFIC = frozenset(["Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Shape", "Size"])
REDUCTIONS = frozenset(
    [
        "ReduceSum",
        "ReduceMean",
        "ReduceMax",
        "ReduceMin",
        "ReduceProd",
        "ReduceL2",
        "ReduceLogSumExp",
        "ScatterND",
        "ScatterElements",
        "SegmentReduce",  # e2e_gnn's fused scatter (domain ai.e2e_gnn)
        "Softmax",
        "LogSoftmax",
        "TopK",
        "ArgMax",
        "ArgMin",
        "CumSum",
    ]
)


def _session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _best_s(run: Any, seconds: float) -> float:
    """Best wall time of ``run()`` over repeats filling about ``seconds`` (at least 3)."""
    run()  # warm-up
    best, spent, count = math.inf, 0.0, 0
    while count < 3 or spent < seconds:
        start = time.perf_counter()
        run()
        took = time.perf_counter() - start
        best, spent, count = min(best, took), spent + took, count + 1
    return best


def matmul_gflops(threads: int, seconds: float = 0.2) -> dict[str, float]:
    """GFLOP/s of ONNX Runtime's float32 MatMul on ``threads`` intra-op threads, per shape
    ``"MxKxN"``, best of repeats."""
    rng = np.random.default_rng(0)
    found = {}
    for m, k, n in MATMUL_SHAPES:
        weight = numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), "w")
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["a", "w"], ["y"])],
            "matmul",
            [helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [m, k])],
            [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [m, n])],
            [weight],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        session = _session(model, threads)
        feeds = {"a": rng.standard_normal((m, k), dtype=np.float32)}
        best = _best_s(lambda s=session, f=feeds: s.run(None, f), seconds)
        found[f"{m}x{k}x{n}"] = round(2 * m * k * n / best / 1e9, 1)
    return found


def bandwidth_gbs(seconds: float = 0.3) -> dict[str, float]:
    """GB/s of STREAM's copy, add and triad on one thread over :data:`STREAM_BYTES` arrays
    (numpy's elementwise loops are single-threaded). The triad runs as two passes over
    the output (``a = s * c; a += b``): counted as the 5 array transfers it makes."""
    n = STREAM_BYTES // 4
    a, b, c = (np.full(n, v, dtype=np.float32) for v in (1.0, 2.0, 0.5))
    size = a.nbytes

    def triad() -> None:
        np.multiply(c, np.float32(3.0), out=a)
        np.add(a, b, out=a)

    kernels = {
        "copy": (lambda: np.copyto(b, a), 2 * size),
        "add": (lambda: np.add(a, b, out=c), 3 * size),
        "triad": (triad, 5 * size),
    }
    return {
        name: round(moved / _best_s(run, seconds / 3) / 1e9, 1)
        for name, (run, moved) in kernels.items()
    }


def peaks(quick: bool = False) -> dict[str, Any]:
    """This machine's matmul peaks (one thread, all usable cores) and memory bandwidth,
    measured now; ``quick`` measures for a shorter time (same code path)."""
    seconds = 0.02 if quick else 0.3
    cores = len(os.sched_getaffinity(0))
    one = matmul_gflops(1, seconds)
    every = matmul_gflops(cores, seconds)
    stream = bandwidth_gbs(3 * seconds)  # the best of more passes: other jobs share the bus
    return {
        "matmul_gflops_1_thread": max(one.values()),
        "matmul_gflops_all_cores": max(every.values()),
        "all_cores": cores,
        "matmul_gflops_by_shape": {"1_thread": one, "all_cores": every},
        "bandwidth_gbs": max(stream.values()),
        "bandwidth_gbs_by_kernel": stream,
        "how": "ONNX Runtime MatMul float32, best over shapes (MxKxN); STREAM-like numpy "
        f"copy/add/triad over {STREAM_BYTES >> 20} MiB arrays, one thread",
    }


def _sig(value: float) -> float:
    """``value`` to 4 significant digits (floors span microseconds to seconds)."""
    return float(f"{value:.4g}")


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _node_flops(
    node: onnx.NodeProto, inputs: list[np.ndarray | None], outputs: list[np.ndarray]
) -> int:
    out = _numel(outputs[0].shape) if outputs else 0
    if node.op_type == "MatMul":
        return 2 * out * inputs[0].shape[-1]  # type: ignore[union-attr]
    if node.op_type == "Gemm":
        trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
        k = inputs[0].shape[0 if trans_a else 1]  # type: ignore[union-attr]
        return 2 * out * k + (out if len(inputs) > 2 else 0)
    if node.op_type == "Conv":
        weight = inputs[1]
        assert weight is not None
        return 2 * out * _numel(weight.shape[1:]) + (out if len(inputs) > 2 else 0)
    if node.op_type == "EdgeAggregate":  # e2e_gnn's fused add, activation, reduction
        node_i, source = inputs[0], inputs[2]
        assert node_i is not None and source is not None
        return 3 * _numel(source.shape) * node_i.shape[1]
    if node.op_type in MOVEMENT:
        return 0
    if node.op_type in REDUCTIONS:
        return max((_numel(x.shape) for x in inputs if x is not None), default=0)
    return out


def _nbytes(value: np.ndarray | None) -> int:
    return 0 if value is None else int(value.nbytes)


def _values(
    graph: onnx.GraphProto, opsets: Any, feeds: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Every value of ``graph`` on ``feeds`` (its inputs and weights included): one run with
    every node output exposed, no graph optimisation (the nodes' own values)."""
    run = onnx.GraphProto()
    run.CopyFrom(graph)
    exposed = {o.name for o in run.output}
    for node in run.node:
        for name in node.output:
            if name and name not in exposed:
                run.output.append(onnx.ValueInfoProto(name=name))
                exposed.add(name)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    custom_ops.register(options)  # models exported with fused operators
    model = helper.make_model(run, opset_imports=opsets)
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer} | dict(feeds)
    return values | dict(zip(names, session.run(names, dict(feeds)), strict=True))


def _branch(graph: onnx.GraphProto, values: Mapping[str, np.ndarray]) -> onnx.GraphProto:
    """The branch ``graph`` of an If as a graph of its own: the outer values it reads
    become its inputs."""
    made = {name for node in graph.node for name in node.output}
    made |= {t.name for t in graph.initializer}
    read = {name for node in graph.node for name in node.input if name and name not in made}
    standalone = onnx.GraphProto()
    standalone.CopyFrom(graph)
    for name in sorted(read):
        value = values[name]
        elem = helper.np_dtype_to_tensor_dtype(value.dtype)
        standalone.input.append(helper.make_tensor_value_info(name, elem, value.shape))
    return standalone


def _count(
    graph: onnx.GraphProto, values: dict[str, np.ndarray], opsets: Any, by_op: dict[str, Any]
) -> None:
    """Adds the FLOPs and upper-bound bytes of every node of ``graph`` (whose values are
    ``values``) to ``by_op``; the taken branch of an If counts as its nodes."""
    for node in graph.node:
        if node.op_type == "If":
            taken = "then_branch" if bool(values[node.input[0]]) else "else_branch"
            branch = _branch(next(a.g for a in node.attribute if a.name == taken), values)
            free = {i.name: values[i.name] for i in branch.input}
            _count(branch, _values(branch, opsets, free), opsets, by_op)
            continue
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
               for a in node.attribute):  # fmt: skip
            msg = f"floors: node {node.name!r} is a {node.op_type}: loops are not counted"
            raise ValueError(msg)
        inputs = [values.get(name) if name else None for name in node.input]
        outputs = [values[name] for name in node.output if name]
        entry = by_op.setdefault(node.op_type, {"nodes": 0, "flops": 0, "bytes_upper": 0})
        entry["nodes"] += 1
        entry["flops"] += _node_flops(node, inputs, outputs)
        if node.op_type not in NO_TRAFFIC:
            entry["bytes_upper"] += sum(map(_nbytes, inputs)) + sum(map(_nbytes, outputs))


def model_work(model: bytes, feeds: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """FLOPs and bytes moved (both bounds) of the ONNX ``model`` on ``feeds``, from the
    tensor shapes of one run with every intermediate value exposed; per op type too."""
    proto = onnx.load_from_string(model)
    graph, opsets = proto.graph, proto.opset_import
    values = _values(graph, opsets, feeds)
    by_op: dict[str, Any] = {}
    _count(graph, values, opsets, by_op)
    lower = sum(values[t.name].nbytes for t in graph.initializer)
    lower += sum(v.nbytes for v in feeds.values())
    lower += sum(values[o.name].nbytes for o in graph.output)
    return {
        "flops": sum(e["flops"] for e in by_op.values()),
        "bytes_upper": sum(e["bytes_upper"] for e in by_op.values()),
        "bytes_lower": int(lower),
        "by_op": dict(sorted(by_op.items(), key=lambda kv: -kv[1]["flops"] - kv[1]["bytes_upper"])),
    }


def model_floor(
    model: bytes, feeds: Mapping[str, np.ndarray], machine: Mapping[str, Any]
) -> dict[str, Any]:
    """:func:`model_work` of ``model`` on ``feeds`` and its floors on one thread of the
    ``machine`` measured by :func:`peaks` (see the module docstring)."""
    work = model_work(model, feeds)
    compute_ms = work["flops"] / (machine["matmul_gflops_1_thread"] * 1e6)
    per_ms = machine["bandwidth_gbs"] * 1e6
    memory_lower_ms, memory_upper_ms = work["bytes_lower"] / per_ms, work["bytes_upper"] / per_ms
    return {
        **work,
        "compute_ms": _sig(compute_ms),
        "memory_ms_lower": _sig(memory_lower_ms),
        "memory_ms_upper": _sig(memory_upper_ms),
        "floor_ms": _sig(max(compute_ms, memory_lower_ms)),
        "unfused_ms": _sig(max(compute_ms, memory_upper_ms)),
    }


def against(ms: float, floor: Mapping[str, Any], per: int = 1) -> dict[str, float]:
    """A measured time next to its floor, both per one of ``per`` items the model ran on
    at once: ``floor_ms``, ``x_floor`` (time / floor) and, for a floor that has an
    ``unfused_ms`` (:func:`model_floor`), ``x_unfused`` (time / the op-by-op time with
    nothing cached)."""
    found = {
        "floor_ms": _sig(floor["floor_ms"] / per),
        "x_floor": round(ms * per / floor["floor_ms"], 2),
    }
    if "unfused_ms" in floor:
        found["x_unfused"] = round(ms * per / floor["unfused_ms"], 2)
    return found


def knn_floor(sizes: Any, k: int, dims: int, machine: Mapping[str, Any]) -> dict[str, Any]:
    """The floor of building the exact kNN edges of graphs of ``sizes`` nodes (float32
    ``dims``-D positions, ``min(k, n - 1)`` neighbours each, no self loop, int64 ``[2, E]``
    edges out), per graph on one thread of the ``machine`` measured by :func:`peaks`.

    Whatever the search (brute force, grid, tree), it reads every position, writes every
    edge and computes at least the squared distance of every edge it keeps (``dims``
    differences and squares, ``dims - 1`` sums): ``floor_ms = max(FLOPs / matmul peak,
    bytes / bandwidth)``. ``brute_force_ms`` is the time of the ``n (n - 1) / 2``
    distances of every pair at the matmul peak: the floor of a brute-force search only
    (a grid search computes fewer, so it is not a floor of e2e_gnn's native builder)."""
    nodes = np.asarray(sizes, dtype=np.int64)
    edges = nodes * np.minimum(k, nodes - 1).clip(min=0)
    per_distance = 3 * dims - 1
    count = len(nodes)
    flops = int(edges.sum()) * per_distance / count
    moved = (int(nodes.sum()) * dims * 4 + int(edges.sum()) * 2 * 8) / count
    pairs = int((nodes * (nodes - 1) // 2).sum()) / count
    compute_ms = flops / (machine["matmul_gflops_1_thread"] * 1e6)
    memory_ms = moved / (machine["bandwidth_gbs"] * 1e6)
    return {
        "flops": round(flops),
        "bytes": round(moved),
        "compute_ms": _sig(compute_ms),
        "memory_ms": _sig(memory_ms),
        "floor_ms": _sig(max(compute_ms, memory_ms)),
        "brute_force_ms": _sig(pairs * per_distance / (machine["matmul_gflops_1_thread"] * 1e6)),
    }
