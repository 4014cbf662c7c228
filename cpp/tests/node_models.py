"""Hand-made node-level ONNX models and their NumPy reference, for the C++ tests
(make_test_models.py) and the binding tests (tests/cpp/test_node_outputs.py).

Both models have two outputs, in this order: ``fraction`` [nodes, 2] = tanh(x W1 + agg W2
+ b (+ (u Wu)[batch])), agg[i] the sum of x over the edges into node i, and ``total``
[graphs, 1], the sum over a graph's nodes of fraction[:, 0] * energy. ``node_model`` builds
Delaunay graphs in (eta, phi); ``node_model_u`` reads graph features u [G, 2] and builds
no edges. The aggregations are matrix products with one-hot matrices (exact on any thread
count, and E = 0 is a product over an empty axis). Imports neither torch nor e2e_gnn.export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from e2e_gnn import __version__
from e2e_gnn.checksum import model_checksum
from e2e_gnn.spec import (
    CHECKSUM_KEY,
    SPEC_KEY,
    VERSION_KEY,
    GraphSpec,
    ModelSpec,
    TensorSpec,
    graph_inputs,
    node_output,
)

FEATURES = ("eta", "phi", "energy")
GRAPH_FEATURES = ("jet_pt", "rho")
OUTPUTS = (
    node_output("fraction", 2, "per-node fractions"),
    TensorSpec("total", "float32", ("graphs", 1), "per-graph energy sum"),
)
GRAPHS = {
    "node_model": GraphSpec(FEATURES, builder="delaunay", k=None, coordinates=("eta", "phi")),
    "node_model_u": GraphSpec(FEATURES, builder="none", k=None, graph_feature_names=GRAPH_FEATURES),
}


def weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "w1": rng.normal(size=(3, 2)).astype(np.float32),
        "w2": rng.normal(size=(3, 2)).astype(np.float32) * 0.3,
        "b1": rng.normal(size=(2,)).astype(np.float32),
        "wu": rng.normal(size=(2, 2)).astype(np.float32) * 0.1,
    }


def _one_hot(index: str, size: str, out: str) -> list[onnx.NodeProto]:
    """out [len(index), size] float: out[i, j] = index[i] == j."""
    return [
        helper.make_node("Range", ["zero", size, "one"], [f"{out}_range"]),
        helper.make_node("Unsqueeze", [index, "axis1"], [f"{out}_col"]),
        helper.make_node("Unsqueeze", [f"{out}_range", "axis0"], [f"{out}_row"]),
        helper.make_node("Equal", [f"{out}_col", f"{out}_row"], [f"{out}_eq"]),
        helper.make_node("Cast", [f"{out}_eq"], [out], to=TensorProto.FLOAT),
    ]


def build(name: str) -> bytes:
    """The serialized model ``name`` ("node_model" or "node_model_u") with its e2e_gnn spec."""
    graph_spec = GRAPHS[name]
    with_u = bool(graph_spec.graph_feature_names)
    w = weights()
    initializers = [numpy_helper.from_array(w[k], k) for k in ("w1", "w2", "b1")]
    initializers += [
        numpy_helper.from_array(np.array(v, np.int64), k)
        for k, v in (("zero", 0), ("one", 1), ("axis0", [0]), ("axis1", [1]))
    ]
    initializers += [
        numpy_helper.from_array(np.array(v, np.int64), k)
        for k, v in (("c0", [0]), ("c1", [1]), ("c2", [2]), ("c3", [3]))
    ]
    nodes = [
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Gather", ["x_shape", "zero"], ["n"]),
        helper.make_node("Gather", ["edge_index", "zero"], ["src"], axis=0),
        helper.make_node("Gather", ["edge_index", "one"], ["tgt"], axis=0),
        *_one_hot("src", "n", "s_hot"),
        *_one_hot("tgt", "n", "t_hot"),
        helper.make_node("Transpose", ["t_hot"], ["t_hot_t"]),
        helper.make_node("MatMul", ["t_hot_t", "s_hot"], ["adjacency"]),
        helper.make_node("MatMul", ["adjacency", "x"], ["agg"]),
        helper.make_node("MatMul", ["x", "w1"], ["h1"]),
        helper.make_node("MatMul", ["agg", "w2"], ["h2"]),
        helper.make_node("Add", ["h1", "h2"], ["h12"]),
        helper.make_node("Add", ["h12", "b1"], ["h"]),
    ]
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["nodes", 3]),
        helper.make_tensor_value_info("edge_index", TensorProto.INT64, [2, "edges"]),
        helper.make_tensor_value_info("batch", TensorProto.INT64, ["nodes"]),
    ]
    pre_tanh = "h"
    if with_u:
        initializers.append(numpy_helper.from_array(w["wu"], "wu"))
        inputs.append(helper.make_tensor_value_info("u", TensorProto.FLOAT, ["graphs", 2]))
        nodes += [
            helper.make_node("MatMul", ["u", "wu"], ["hu"]),
            helper.make_node("Gather", ["hu", "batch"], ["hu_nodes"], axis=0),
            helper.make_node("Add", ["h", "hu_nodes"], ["h_u"]),
            helper.make_node("Shape", ["u"], ["u_shape"]),
            helper.make_node("Gather", ["u_shape", "zero"], ["g"]),
        ]
        pre_tanh = "h_u"
    else:
        nodes += [
            helper.make_node("ReduceMax", ["batch"], ["last"], keepdims=0),
            helper.make_node("Add", ["last", "one"], ["g"]),
        ]
    nodes += [
        helper.make_node("Tanh", [pre_tanh], ["fraction"]),
        helper.make_node("Slice", ["fraction", "c0", "c1", "axis1"], ["first"]),
        helper.make_node("Slice", ["x", "c2", "c3", "axis1"], ["energy"]),
        helper.make_node("Mul", ["first", "energy"], ["weighted"]),
        *_one_hot("batch", "g", "b_hot"),
        helper.make_node("Transpose", ["b_hot"], ["b_hot_t"]),
        helper.make_node("MatMul", ["b_hot_t", "weighted"], ["total"]),
    ]
    outputs = [
        helper.make_tensor_value_info("fraction", TensorProto.FLOAT, ["nodes", 2]),
        helper.make_tensor_value_info("total", TensorProto.FLOAT, ["graphs", 1]),
    ]
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    spec = ModelSpec(
        name,
        "HandMadeNodeModel",
        {},
        inputs=graph_inputs(graph_spec),
        outputs=OUTPUTS,
        graph=graph_spec,
        thread_safe=True,
    )
    checksum = model_checksum(model.SerializeToString())
    for key, value in ((SPEC_KEY, spec.to_json()), (VERSION_KEY, __version__)):
        model.metadata_props.add(key=key, value=value)
    model.metadata_props.add(key=CHECKSUM_KEY, value=checksum)
    return model.SerializeToString()


def write(directory: Path) -> None:
    for name in GRAPHS:
        (directory / f"{name}.onnx").write_bytes(build(name))


def reference(
    x: np.ndarray, edge_index: np.ndarray, ptr: np.ndarray, u: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(fraction [N, 2], total [G, 1]) in float64, independent of ONNX Runtime."""
    w = {k: v.astype(np.float64) for k, v in weights().items()}
    x = x.astype(np.float64)
    agg = np.zeros_like(x)
    np.add.at(agg, edge_index[1], x[edge_index[0]])
    h = x @ w["w1"] + agg @ w["w2"] + w["b1"]
    batch = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    if u is not None:
        h = h + (u.astype(np.float64) @ w["wu"])[batch]
    fraction = np.tanh(h)
    total = np.zeros((len(ptr) - 1, 1))
    np.add.at(total[:, 0], batch, fraction[:, 0] * x[:, 2])
    return fraction, total


def unwrapped_phi(phi: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """phi moved by multiples of 2 pi to within pi of its graph's first node, as the
    Delaunay builder of e2e_gnn::build_graphs does (unchanged when already within pi)."""
    out = phi.astype(np.float32).copy()
    for g in range(len(ptr) - 1):
        start, stop = int(ptr[g]), int(ptr[g + 1])
        shift = phi[start:stop].astype(np.float64) - np.float64(phi[start])
        turns = np.trunc(shift / (2 * np.pi) + np.copysign(0.5, shift))
        moved = (phi[start:stop].astype(np.float64) - 2 * np.pi * turns).astype(np.float32)
        out[start:stop] = np.where(np.abs(shift) > np.pi, moved, phi[start:stop])
    return out
