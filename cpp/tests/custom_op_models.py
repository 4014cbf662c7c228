"""Hand-made ONNX models holding one node of e2e_gnn's custom operator domain ai.e2e_gnn
(cpp/ops), for the C++ tests (make_test_models.py) and the Python ones (tests/ops).
Imports neither torch nor e2e_gnn."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import TensorProto, helper

DOMAIN = "ai.e2e_gnn"


def _model(node: onnx.NodeProto, inputs: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in node.output]
    model = helper.make_model(
        helper.make_graph([node], node.op_type, inputs, outputs),
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)],
    )
    # e2e_gnn's runtimes use more than one intra-op thread only for a model marked thread-safe
    helper.set_model_props(model, {"e2e_gnn.spec": json.dumps({"thread_safe": True})})
    return model


def segment_reduce(
    reduce: str, feature_dims: int = 1, rows_shape: tuple[int | str, ...] = ()
) -> onnx.ModelProto:
    """SegmentReduce(src [E, F0, ...], index [E], rows (scalar, or rows_shape)) -> out."""
    node = helper.make_node(
        "SegmentReduce", ["src", "index", "rows"], ["out"], domain=DOMAIN, reduce=reduce
    )
    src_shape = ["E", *[f"F{d}" for d in range(feature_dims)]]
    inputs = [
        helper.make_tensor_value_info("src", TensorProto.FLOAT, src_shape),
        helper.make_tensor_value_info("index", TensorProto.INT64, ["E"]),
        helper.make_tensor_value_info("rows", TensorProto.INT64, list(rows_shape)),
    ]
    return _model(node, inputs)


def gather_segment_reduce(
    reduce: str,
    weight: str | None = None,
    feature_dims: int | None = 1,
    weight_dims: int = 0,
    activation: str | None = None,
) -> onnx.ModelProto:
    """GatherSegmentReduce(values [M, F0, ...] (any rank if feature_dims is None), source [E],
    index [E], rows) -> out, with ``weight``: None (a 4-input node), "input" (weight
    [E, F0, ..., F<weight_dims - 1>] the 5th input) or "empty" (a 5-input node whose 5th name
    is empty: the input is absent); with ``activation`` ("identity" or "relu"), the 6th input
    is addend [E, F0, ...] and the node has that activation attribute."""
    names = ["values", "source", "index", "rows"]
    names += {None: [], "input": ["weight"], "empty": [""]}[weight]
    attributes = {"reduce": reduce}
    if activation is not None:
        names += [""] * (5 - len(names)) + ["addend"]
        attributes["activation"] = activation
    node = helper.make_node("GatherSegmentReduce", names, ["out"], domain=DOMAIN, **attributes)
    values_shape = None if feature_dims is None else ["M", *[f"F{d}" for d in range(feature_dims)]]
    inputs = [
        helper.make_tensor_value_info("values", TensorProto.FLOAT, values_shape),
        helper.make_tensor_value_info("source", TensorProto.INT64, ["E"]),
        helper.make_tensor_value_info("index", TensorProto.INT64, ["E"]),
        helper.make_tensor_value_info("rows", TensorProto.INT64, []),
    ]
    if weight == "input":
        weight_shape = ["E", *[f"F{d}" for d in range(weight_dims)]]
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.FLOAT, weight_shape))
    if activation is not None:
        addend_shape = None if values_shape is None else ["E", *values_shape[1:]]
        inputs.append(helper.make_tensor_value_info("addend", TensorProto.FLOAT, addend_shape))
    return _model(node, inputs)


def segment_softmax(feature_dims: int = 1) -> onnx.ModelProto:
    """SegmentSoftmax(src [E, F0, ...], index [E], rows (scalar)) -> out."""
    node = helper.make_node("SegmentSoftmax", ["src", "index", "rows"], ["out"], domain=DOMAIN)
    inputs = [
        helper.make_tensor_value_info(
            "src", TensorProto.FLOAT, ["E", *[f"F{d}" for d in range(feature_dims)]]
        ),
        helper.make_tensor_value_info("index", TensorProto.INT64, ["E"]),
        helper.make_tensor_value_info("rows", TensorProto.INT64, []),
    ]
    return _model(node, inputs)


def edge_score(
    score: str | None, weight: bool = False, negative_slope: float | None = None
) -> onnx.ModelProto:
    """EdgeScore(node_i [N, H, C], node_j [M, H, C], source [E], target [E][, weight [H, C]])
    -> score, with the attributes that are not None."""
    names = ["node_i", "node_j", "source", "target", *(["weight"] if weight else [])]
    attributes = {"score": score, "negative_slope": negative_slope}
    attributes = {key: value for key, value in attributes.items() if value is not None}
    node = helper.make_node("EdgeScore", names, ["score"], domain=DOMAIN, **attributes)
    shapes = {
        "node_i": ["N", "H", "C"],
        "node_j": ["M", "H", "C"],
        "source": ["E"],
        "target": ["E"],
        "weight": ["H", "C"],
    }
    inputs = [
        helper.make_tensor_value_info(
            name,
            TensorProto.INT64 if name in ("source", "target") else TensorProto.FLOAT,
            shapes[name],
        )
        for name in names
    ]
    return _model(node, inputs)


def edge_aggregate(
    activation: str, reduce: str, source_type: int = TensorProto.INT64
) -> onnx.ModelProto:
    """EdgeAggregate(node_i [N, F], node_j [M, F], source [E], target [E]) -> out, degree."""
    node = helper.make_node(
        "EdgeAggregate",
        ["node_i", "node_j", "source", "target"],
        ["out", "degree"],
        domain=DOMAIN,
        activation=activation,
        reduce=reduce,
    )
    inputs = [
        helper.make_tensor_value_info("node_i", TensorProto.FLOAT, ["N", "F"]),
        helper.make_tensor_value_info("node_j", TensorProto.FLOAT, ["M", "F"]),
        helper.make_tensor_value_info("source", source_type, ["E"]),
        helper.make_tensor_value_info("target", TensorProto.INT64, ["E"]),
    ]
    return _model(node, inputs)


def write(directory: Path) -> None:
    """edge_aggregate_<activation>_<reduce>.onnx, segment_reduce_<reduce>.onnx,
    gather_segment_reduce_<reduce>[_weight|_empty|_heads].onnx (_heads: values [M, H, C],
    weight [E, H]), segment_softmax.onnx, edge_score_dot.onnx, edge_score_leaky_relu.onnx
    (negative_slope 0.1) and edge_aggregate_relu_min.onnx (a reduction EdgeAggregate
    refuses)."""
    for activation in ("relu", "identity"):
        for reduce in ("sum", "mean", "max"):
            model = edge_aggregate(activation, reduce)
            onnx.save(model, directory / f"edge_aggregate_{activation}_{reduce}.onnx")
    onnx.save(edge_aggregate("relu", "min"), directory / "edge_aggregate_relu_min.onnx")
    for reduce in ("sum", "mean", "max", "min"):
        onnx.save(segment_reduce(reduce), directory / f"segment_reduce_{reduce}.onnx")
        for weight, suffix in ((None, ""), ("input", "_weight"), ("empty", "_empty")):
            model = gather_segment_reduce(reduce, weight)
            onnx.save(model, directory / f"gather_segment_reduce_{reduce}{suffix}.onnx")
        model = gather_segment_reduce(reduce, "input", feature_dims=2, weight_dims=1)
        onnx.save(model, directory / f"gather_segment_reduce_{reduce}_heads.onnx")
    onnx.save(segment_softmax(), directory / "segment_softmax.onnx")
    onnx.save(edge_score("dot"), directory / "edge_score_dot.onnx")
    model = edge_score("leaky_relu", weight=True, negative_slope=0.1)
    onnx.save(model, directory / "edge_score_leaky_relu.onnx")
