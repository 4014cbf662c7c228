"""Opt-in fused operators: aggregations exported as nodes of e2e_gnn's own ONNX domain.

The default export is plain ONNX (opset 18), portable to any runtime. Under
:func:`fused_operators` (``e2e-gnn export-onnx --fused-ops``), the aggregations are
exported as single nodes of the domain ``ai.e2e_gnn``, whose kernels are e2e_gnn's custom
operator library (``cpp/ops``; ``e2e_gnn.custom_ops.library_path()``): every runtime of
e2e_gnn registers it (the native C++ sessions, Python onnxruntime, Triton), and any other
ONNX Runtime user can load it with ``SessionOptions.register_custom_ops_library``.

- ``ai.e2e_gnn.SegmentReduce(src, index, rows)`` is ``scatter(src, index, dim_size=rows,
  reduce=...)``: one pass over the entries, no sort.
- ``ai.e2e_gnn.GatherSegmentReduce(values, source, index, rows[, weight])`` is the same
  reduction of the rows ``values[source]`` (times ``weight``): torch_geometric's
  ``scatter(x_j [* edge_weight], target)`` without the gathered [E, F] copy. The
  translation of ``scatter`` emits it when its entries are such a row Gather.
- ``ai.e2e_gnn.EdgeAggregate(node_i, node_j, source, target) -> (out, degree)`` is
  EdgeConv's per-edge chain after the split of its first Linear: the messages
  ``act(node_i[target] + node_j[source])`` reduced per target in the same pass, never
  written out as an [E, F] tensor.
- ``ai.e2e_gnn.SegmentSoftmax(src, index, rows)`` is :func:`e2e_gnn.nn.softmax` over dim 0
  in one pass per row.
- ``ai.e2e_gnn.EdgeScore(node_i, node_j, source, target[, weight]) -> [E, H]`` is the
  attention score of every edge and head, ``sum_c node_i[target] * node_j[source]``
  (TransformerConv) or ``sum_c weight * leaky_relu(node_i[target] + node_j[source])``
  (GATv2Conv), without the gathered [E, H, C] tensors. With GatherSegmentReduce's per-head
  weight (``alpha.unsqueeze(-1) * x_j``), the attention layers never write an [E, H, C]
  tensor.

All reduce each row's entries in increasing edge order, so their results do not depend on
ONNX Runtime's thread count. Eager runs never call these ops: the layers keep torch's
kernels and autograd; the ops' own eager implementations serve ``torch.export``'s trace
and the tests.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch
from torch import Tensor

from e2e_gnn.custom_ops import DOMAIN
from e2e_gnn.nn._onnx_ops import ONNX_OPS_AVAILABLE

ACTIVATIONS = ("identity", "relu")
SCORES = ("dot", "leaky_relu")

_FUSED = contextvars.ContextVar("e2e_gnn_fused_operators", default=False)


@contextlib.contextmanager
def fused_operators() -> Iterator[None]:
    """Export the aggregations traced inside this block as ``ai.e2e_gnn`` operators."""
    token = _FUSED.set(True)
    try:
        yield
    finally:
        _FUSED.reset(token)


def exporting_fused() -> bool:
    """Whether aggregations are being traced for an export with fused operators."""
    return ONNX_OPS_AVAILABLE and torch.compiler.is_exporting() and _FUSED.get()


def _activate(values: Tensor, activation: str) -> Tensor:
    return torch.relu(values) if activation == "relu" else values


@torch.library.custom_op("e2e_gnn::edge_aggregate", mutates_args=())
def edge_aggregate(
    node_i: Tensor, node_j: Tensor, source: Tensor, target: Tensor, activation: str, reduce: str
) -> tuple[Tensor, Tensor]:
    """``(out [N, F], degree [N])``: ``out[i] = reduce_{e: target[e] = i} act(node_i[i] +
    node_j[source[e]])`` (0 for nodes without incoming edges), ``degree[i]`` their count."""
    from e2e_gnn.nn.scatter import eager_scatter  # here: scatter imports _onnx_ops

    num_nodes = node_i.size(0)
    messages = _activate(
        node_i.index_select(0, target) + node_j.index_select(0, source), activation
    )
    degree = eager_scatter(node_i.new_ones(target.shape), target, num_nodes, "sum")
    return eager_scatter(messages, target, num_nodes, reduce), degree


@edge_aggregate.register_fake
def _edge_aggregate_fake(
    node_i: Tensor, node_j: Tensor, source: Tensor, target: Tensor, activation: str, reduce: str
) -> tuple[Tensor, Tensor]:
    return node_i.new_empty(node_i.shape), node_i.new_empty(node_i.size(0))


@torch.library.custom_op("e2e_gnn::fused_segment_reduce", mutates_args=())
def fused_segment_reduce(src: Tensor, index: Tensor, dim_size: int, reduce: str) -> Tensor:
    """``scatter(src, index, dim_size=dim_size, reduce=reduce)`` over dim 0, as one op."""
    from e2e_gnn.nn.scatter import eager_scatter

    return eager_scatter(src, index, dim_size, reduce)


@fused_segment_reduce.register_fake
def _fused_segment_reduce_fake(src: Tensor, index: Tensor, dim_size: int, reduce: str) -> Tensor:
    return src.new_empty((dim_size, *src.shape[1:]))


@torch.library.custom_op("e2e_gnn::fused_segment_softmax", mutates_args=())
def fused_segment_softmax(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """``softmax(src, index, num_nodes=dim_size)`` over dim 0, as one op."""
    from e2e_gnn.nn.scatter import eager_scatter

    src_max = eager_scatter(src, index, dim_size, "max")
    out = (src - src_max.index_select(0, index)).exp()
    return out / (eager_scatter(out, index, dim_size, "sum") + 1e-16).index_select(0, index)


@fused_segment_softmax.register_fake
def _fused_segment_softmax_fake(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    return src.new_empty(src.shape)


@torch.library.custom_op("e2e_gnn::edge_score", mutates_args=())
def edge_score(
    node_i: Tensor,
    node_j: Tensor,
    source: Tensor,
    target: Tensor,
    weight: Tensor | None,
    score: str,
    negative_slope: float,
) -> Tensor:
    """``[E, H]``: per edge and head, ``sum_c node_i[target] * node_j[source]`` (``dot``) or
    ``sum_c weight * leaky_relu(node_i[target] + node_j[source])`` (``leaky_relu``);
    node_i ``[N, H, C]``, node_j ``[M, H, C]``, weight ``[H, C]``."""
    pair = node_i.index_select(0, target), node_j.index_select(0, source)
    if score == "dot":
        return (pair[0] * pair[1]).sum(dim=-1)
    assert weight is not None
    return (torch.nn.functional.leaky_relu(pair[0] + pair[1], negative_slope) * weight).sum(-1)


@edge_score.register_fake
def _edge_score_fake(
    node_i: Tensor,
    node_j: Tensor,
    source: Tensor,
    target: Tensor,
    weight: Tensor | None,
    score: str,
    negative_slope: float,
) -> Tensor:
    return node_i.new_empty((source.size(0), node_i.size(1)))


def _register_schemas() -> None:
    """The operators' ONNX schemas (the contract the kernels in cpp/ops implement), in
    onnx's registry so that the exporter can build and check their nodes."""
    from onnx import defs, helper

    def parameter(name: str, type_str: str, doc: str) -> defs.OpSchema.FormalParameter:
        return defs.OpSchema.FormalParameter(name, type_str, doc)

    def optional(name: str, doc: str) -> defs.OpSchema.FormalParameter:
        return defs.OpSchema.FormalParameter(
            name, "tensor(float)", doc, param_option=defs.OpSchema.FormalParameterOption.Optional
        )

    def attribute(name: str, doc: str) -> defs.OpSchema.Attribute:
        return defs.OpSchema.Attribute(name, defs.OpSchema.AttrType.STRING, doc)

    schemas = [
        defs.OpSchema(
            "SegmentReduce",
            DOMAIN,
            1,
            "out[r] = reduce(src[e] for index[e] == r); rows without entries are 0.",
            inputs=[
                parameter("src", "tensor(float)", "[E, *F]"),
                parameter("index", "tensor(int64)", "[E], values in [0, rows)"),
                parameter("rows", "tensor(int64)", "the number of output rows, [] or [1]"),
            ],
            outputs=[parameter("out", "tensor(float)", "[rows, *F]")],
            attributes=[attribute("reduce", "sum, mean, max or min")],
        ),
        defs.OpSchema(
            "GatherSegmentReduce",
            DOMAIN,
            1,
            "out[r] = reduce(act(values[source[e]] (* weight[e]) (+ addend[e])) for index[e] "
            "== r); rows without entries are 0. SegmentReduce(act(Gather(values, source) "
            "[* weight] [+ addend]), index, rows).",
            inputs=[
                parameter("values", "tensor(float)", "[M, *F]"),
                parameter("source", "tensor(int64)", "[E], values in [0, M)"),
                parameter("index", "tensor(int64)", "[E], values in [0, rows)"),
                parameter("rows", "tensor(int64)", "the number of output rows, [] or [1]"),
                optional(
                    "weight",
                    "[E] or [E, *W] (W: leading feature dimensions of values), optional: "
                    "multiplies each gathered row (per head for [E, H])",
                ),
                optional("addend", "[E, *F], optional (not with weight): added to each row"),
            ],
            outputs=[parameter("out", "tensor(float)", "[rows, *F]")],
            attributes=[
                attribute("reduce", "sum, mean, max or min"),
                defs.OpSchema.Attribute(
                    "activation",
                    defs.OpSchema.AttrType.STRING,
                    "identity (default) or relu, applied to each entry after the addend",
                    required=False,
                ),
            ],
        ),
        defs.OpSchema(
            "EdgeAggregate",
            DOMAIN,
            1,
            "out[i] = reduce(act(node_i[i] + node_j[source[e]]) for target[e] == i); "
            "degree[i] = number of such e; nodes without edges get 0.",
            inputs=[
                parameter("node_i", "tensor(float)", "[N, F] per-target term"),
                parameter("node_j", "tensor(float)", "[M, F] per-source term"),
                parameter("source", "tensor(int64)", "[E], values in [0, M)"),
                parameter("target", "tensor(int64)", "[E], values in [0, N)"),
            ],
            outputs=[
                parameter("out", "tensor(float)", "[N, F]"),
                parameter("degree", "tensor(float)", "[N]"),
            ],
            attributes=[
                attribute("activation", "identity or relu"),
                attribute("reduce", "sum, mean or max"),
            ],
        ),
        defs.OpSchema(
            "SegmentSoftmax",
            DOMAIN,
            1,
            "out[e] = exp(src[e] - m) / (sum exp(src[e'] - m) + 1e-16) over the entries e' of "
            "the row index[e] (m their max), per feature.",
            inputs=[
                parameter("src", "tensor(float)", "[E, *F]"),
                parameter("index", "tensor(int64)", "[E], values in [0, rows)"),
                parameter("rows", "tensor(int64)", "the number of rows, [] or [1]"),
            ],
            outputs=[parameter("out", "tensor(float)", "[E, *F]")],
        ),
        defs.OpSchema(
            "EdgeScore",
            DOMAIN,
            1,
            "score[e, h] = sum_c node_i[target[e], h, c] * node_j[source[e], h, c] (dot) or "
            "sum_c weight[h, c] * leaky_relu(node_i[target[e], h, c] + node_j[source[e], h, c]) "
            "(leaky_relu).",
            inputs=[
                parameter("node_i", "tensor(float)", "[N, H, C] per-target term"),
                parameter("node_j", "tensor(float)", "[M, H, C] per-source term"),
                parameter("source", "tensor(int64)", "[E], values in [0, M)"),
                parameter("target", "tensor(int64)", "[E], values in [0, N)"),
                optional("weight", "[H, C]: leaky_relu's attention vector"),
            ],
            outputs=[parameter("score", "tensor(float)", "[E, H]")],
            attributes=[
                attribute("score", "dot or leaky_relu"),
                defs.OpSchema.Attribute(
                    "negative_slope",
                    helper.make_attribute("negative_slope", 0.2),
                    "leaky_relu's slope",
                ),
            ],
        ),
    ]
    for schema in schemas:
        if not defs.has(schema.name, schema.domain):
            defs.register_schema(schema)


def _register_onnx_translations() -> None:
    if not ONNX_OPS_AVAILABLE:
        return
    import onnx_ir as ir
    from onnxscript import values
    from onnxscript.onnx_opset import opset18 as op
    from torch.onnx._internal.exporter._torchlib._torchlib_registry import onnx_impl

    _register_schemas()
    custom = values.Opset(DOMAIN, 1)

    @onnx_impl(torch.ops.e2e_gnn.edge_aggregate.default, trace_only=True)
    def _edge_aggregate_onnx(node_i, node_j, source, target, activation: str, reduce: str):  # type: ignore[no-untyped-def]
        return custom.EdgeAggregate(
            node_i, node_j, source, target, activation=activation, reduce=reduce
        )

    @onnx_impl(torch.ops.e2e_gnn.fused_segment_reduce.default, trace_only=True)
    def _segment_reduce_onnx(src, index, dim_size, reduce: str):  # type: ignore[no-untyped-def]
        rows = _rows(dim_size)
        gathered = _gathered_rows(src, index)
        if gathered is None:
            return custom.SegmentReduce(src, index, rows, reduce=reduce)
        values, source, weight, addend, activation = gathered
        inputs = [values, source, index, rows, weight, addend]
        while inputs[-1] is None:
            inputs.pop()
        return custom.GatherSegmentReduce(*inputs, reduce=reduce, activation=activation)

    @onnx_impl(torch.ops.e2e_gnn.fused_segment_softmax.default, trace_only=True)
    def _segment_softmax_onnx(src, index, dim_size):  # type: ignore[no-untyped-def]
        return custom.SegmentSoftmax(src, index, _rows(dim_size))

    @onnx_impl(torch.ops.e2e_gnn.edge_score.default, trace_only=True)
    def _edge_score_onnx(  # type: ignore[no-untyped-def]
        node_i, node_j, source, target, weight, score: str, negative_slope: float
    ):
        inputs = (node_i, node_j, source, target) + (() if weight is None else (weight,))
        return custom.EdgeScore(*inputs, score=score, negative_slope=negative_slope)

    def _rows(dim_size):  # type: ignore[no-untyped-def]
        """A row count (int or traced size) as the [1] tensor the operators take."""
        if isinstance(dim_size, int):
            return op.Constant(value_ints=[dim_size])
        return op.Reshape(dim_size, op.Constant(value_ints=[-1]))

    def _gathered_rows(src, index):  # type: ignore[no-untyped-def]
        """``(values, source, weight, addend, activation)`` when the entries ``src`` are rows
        of ``values`` gathered at ``source`` (torch_geometric's ``x_j``), either times a
        per-entry weight (``edge_weight.view(-1, 1) * x_j``, ``alpha.unsqueeze(-1) * x_j``)
        or plus a per-entry term and optionally a ReLU (GINEConv's ``(x_j +
        edge_attr).relu()``): GatherSegmentReduce then reads the rows in place instead of
        reducing a gathered [E, F] copy. None otherwise (then SegmentReduce reduces ``src``
        as it is)."""
        entries = index.shape[0] if index.shape is not None and len(index.shape) == 1 else None
        if entries is None:
            return None
        node = src.producer()
        activation = "identity"
        if node is not None and node.op_type == "Relu" and node.domain == "":
            activation, node = "relu", node.inputs[0].producer()
            if node is None or node.op_type != "Add":
                return None
        if node is not None and node.op_type in ("Mul", "Add") and node.domain == "":
            for gathered, other in (node.inputs, node.inputs[::-1]):
                rows_of = _row_gather(gathered, entries)
                if rows_of is None or src.shape != gathered.shape:
                    continue
                values, source = rows_of.inputs[0], rows_of.inputs[1]
                if node.op_type == "Add":
                    if other is not None and other.shape == gathered.shape:
                        return values, source, None, other, activation
                    continue
                weight = _entry_weight(other, entries, values.shape)
                if weight is not None and activation == "identity":
                    return values, source, weight, None, activation
            return None
        rows_of = _row_gather(src, entries)
        if rows_of is None:
            return None
        return rows_of.inputs[0], rows_of.inputs[1], None, None, activation

    def _row_gather(value, entries):  # type: ignore[no-untyped-def]
        """The node when ``value`` is ONNX ``Gather(values, indices, axis=0)`` with 1-D
        indices giving ``entries`` rows (its rank equals the values' rank), else None."""
        node = value.producer() if value is not None else None
        if node is not None and node.op_type == "Reshape" and node.inputs[0] is not None:
            unchanged = value.shape is not None and node.inputs[0].shape == value.shape
            node = node.inputs[0].producer() if unchanged else None  # e2e_gnn.nn.gather's
        if node is None or node.op_type != "Gather" or node.domain != "":
            return None
        values = node.inputs[0]
        if values is None or values.shape is None or value.shape is None:
            return None
        rank = len(values.shape)
        axis = node.attributes["axis"].value if "axis" in node.attributes else 0
        one_row_per_entry = len(value.shape) == rank and value.shape[0] == entries
        return node if rank > 0 and axis % rank == 0 and one_row_per_entry else None

    def _entry_weight(column, entries, values_shape):  # type: ignore[no-untyped-def]
        """``w`` [E, *W] when ``column`` is ``w`` viewed with trailing 1s to the rank of the
        gathered rows (Reshape or Unsqueeze of a float tensor; ``w.view(-1, 1)``,
        ``alpha.unsqueeze(-1)``), W leading feature dimensions of ``values_shape``
        [M, *W, *C] (one weight per row, or per attention head), else None."""
        view = column.producer() if column is not None else None
        if view is None or view.op_type not in ("Reshape", "Unsqueeze") or not view.inputs:
            return None
        weight = view.inputs[0]
        if weight is None or weight.shape is None or column.shape is None:
            return None
        shape, rank = list(weight.shape), len(weight.shape)
        fits = (
            weight.dtype == ir.DataType.FLOAT
            and 1 <= rank <= len(values_shape)
            and shape[0] == entries
            and shape[1:] == list(values_shape)[1:rank]
            and list(column.shape) == shape + [1] * (len(values_shape) - rank)
        )
        return weight if fits else None


_register_onnx_translations()
