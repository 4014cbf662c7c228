"""Custom ops that decide which ONNX operators the aggregations export to.

No aten op exports to the ONNX form we want, so while ``torch.export`` traces, ``scatter``
calls a custom op whose ONNX translation is registered in torch's exporter registry (a plain
``torch.onnx.export(..., dynamo=True)`` finds it). Eager runs and training never call them:
they keep torch's scatter kernels and autograd.

- ``e2e_gnn::segment_reduce`` (the default): exact under any ONNX Runtime session options.
  The entries are sorted by row (TopK on unique keys), the runs of equal rows are found
  in the sorted order (NonZero of the run boundaries), the runs are cut into chunks of at
  most min(``CHUNK``, 2 sqrt(longest run)) entries gathered into a padded table and reduced
  over its axis 1 with ReduceSum/ReduceMax/ReduceMin, the chunks of each run are reduced the
  same way, and each run's result is written to its row by a ScatterND *without* reduction
  at distinct rows. No operator lets two threads update one value, so the result does not
  depend on the thread count (numbers and the choice: docs/aggregation.md). Memory: about E x F plus
  runs x CHUNK x F, even when one row has far more entries than the others.
- ``e2e_gnn::edge_chunks``: the same sort and runs, returned as a table of each node's
  incoming edges (rows of at most ``chunk`` edges), so that EdgeConv computes its
  messages directly in that layout and reduces them with a mask.
- ``e2e_gnn::scatter_extreme``: ``ScatterND(reduction="max"/"min")``, used only under
  :func:`e2e_gnn.nn.scatter.scatternd_aggregation`, the opt-in racy form (ONNX Runtime's
  CPU ScatterND reductions lose updates on more than one intra-op thread).

The registry is private torch API (checked with torch 2.13): if it is missing,
``ONNX_OPS_AVAILABLE`` is False and ``scatter`` exports torch's own scatters (ScatterND /
ScatterElements with reductions); ``export_onnx`` then records the model as not thread-safe.
"""

from __future__ import annotations

import torch
from torch import Tensor


def prefilled_scatter_extreme(src: Tensor, index: Tensor, dim_size: int, reduce: str) -> Tensor:
    """``out[i] = max/min(src[index == i])``, -inf/+inf for rows without entries."""
    fill = float("-inf") if reduce == "max" else float("inf")
    out = src.new_full((dim_size, *src.shape[1:]), fill)
    expanded = index.view((-1,) + (1,) * (src.dim() - 1)).expand_as(src)
    # ONNX: ScatterElements(reduction="max"/"min"); the infinite prefill makes ONNX's only
    # form, include_self=True, equal to include_self=False.
    return out.scatter_reduce(0, expanded, src, reduce="amax" if reduce == "max" else "amin")


@torch.library.custom_op("e2e_gnn::scatter_extreme", mutates_args=())
def scatter_extreme(src: Tensor, index: Tensor, dim_size: int, reduce: str) -> Tensor:
    """Custom-op form of :func:`prefilled_scatter_extreme` (exported as ScatterND)."""
    return prefilled_scatter_extreme(src, index, dim_size, reduce)


@scatter_extreme.register_fake
def _scatter_extreme_fake(src: Tensor, index: Tensor, dim_size: int, reduce: str) -> Tensor:
    return src.new_empty((dim_size, *src.shape[1:]))


@torch.library.custom_op("e2e_gnn::segment_reduce", mutates_args=())
def segment_reduce(src: Tensor, index: Tensor, dim_size: int, reduce: str) -> Tensor:
    """``e2e_gnn.nn.scatter(src, index, dim_size=dim_size, reduce=reduce)`` as one op (exported
    exactly)."""
    from e2e_gnn.nn.scatter import eager_scatter  # here: scatter imports this module

    return eager_scatter(src, index, dim_size, reduce)


@segment_reduce.register_fake
def _segment_reduce_fake(src: Tensor, index: Tensor, dim_size: int, reduce: str) -> Tensor:
    return src.new_empty((dim_size, *src.shape[1:]))


CHUNK = 64
"""Most entries per chunk of the first reduction level of ``segment_reduce``'s export."""


@torch.library.custom_op("e2e_gnn::edge_chunks", mutates_args=())
def edge_chunks(target: Tensor, num_nodes: int, chunk: int) -> tuple[Tensor, Tensor, Tensor]:
    """The incoming edges of every node as a table: ``(edges [C, W], valid [C, W], rows
    [C])``. The edges are sorted by target (stable); each node's edges are cut into chunks
    of at most ``chunk`` consecutive ones, one chunk per table row, ``rows`` is the target
    node of each chunk (sorted), ``edges`` the edge ids of its slots and ``valid`` whether
    a slot holds one (empty slots repeat the chunk's first edge). W is the longest chunk
    (at least 1), so a kNN graph with k <= chunk gives C = nodes with edges, W = k."""
    order = torch.argsort(target, stable=True)
    by_row = target[order]
    position = torch.arange(target.size(0), device=target.device)
    starts = torch.ones_like(by_row, dtype=torch.bool)
    starts[1:] = by_row[1:] != by_row[:-1]
    run_first = position[starts]
    slot = position - run_first[starts.long().cumsum(0) - 1]
    chunk_starts = starts | (slot % chunk == 0)
    row = chunk_starts.long().cumsum(0) - 1
    chunk_first = position[chunk_starts]
    within = position - chunk_first[row]
    width = int(within.max()) + 1 if within.numel() else 1
    edges = order[chunk_first].view(-1, 1).repeat(1, width)
    valid = torch.zeros_like(edges, dtype=torch.bool)
    edges[row, within] = order
    valid[row, within] = True
    return edges, valid, by_row[chunk_first]


@edge_chunks.register_fake
def _edge_chunks_fake(target: Tensor, num_nodes: int, chunk: int) -> tuple[Tensor, Tensor, Tensor]:
    ctx = torch.library.get_ctx()
    chunks, width = ctx.new_dynamic_size(), ctx.new_dynamic_size()
    edges = target.new_empty((chunks, width))
    return edges, edges.new_empty((chunks, width), dtype=torch.bool), target.new_empty(chunks)


def _register_onnx_translations() -> bool:
    try:
        from onnxscript.onnx_opset import opset18 as op
        from torch.onnx._internal.exporter._torchlib._torchlib_registry import onnx_impl
    except ImportError:
        return False

    def rows_of(dim_size):  # type: ignore[no-untyped-def]
        """``dim_size`` (a Python int or a traced scalar) as an int64 [1] tensor."""
        if isinstance(dim_size, int):
            return op.Constant(value_ints=[dim_size])
        return op.Reshape(dim_size, op.Constant(value_ints=[-1]))

    @onnx_impl(torch.ops.e2e_gnn.scatter_extreme.default, trace_only=True)
    def _scatter_extreme_onnx(src, index, dim_size, reduce: str):  # type: ignore[no-untyped-def]
        shape = op.Concat(rows_of(dim_size), op.Shape(src, start=1), axis=0)
        fill = op.CastLike(
            op.Constant(value_float=float("-inf" if reduce == "max" else "inf")), src
        )
        data = op.Expand(fill, shape)
        indices = op.Unsqueeze(index, op.Constant(value_ints=[-1]))
        return op.ScatterND(data, indices, src, reduction=reduce)

    # Constants must be created while a translation runs (they become graph nodes).
    def scalar(value: int):  # type: ignore[no-untyped-def]
        return op.Constant(value_int=value)

    def axes(value: int):  # type: ignore[no-untyped-def]
        return op.Constant(value_ints=[value])

    def runs_of(rows):  # type: ignore[no-untyped-def]
        """First and last position of every run of equal values in the sorted 1-D
        ``rows`` (NonZero scans in order)."""
        count = op.Shape(rows)
        position = op.Range(scalar(0), op.Squeeze(count), scalar(1))
        before = op.Gather(op.Concat(axes(-1), rows, axis=0), position)
        after = op.Gather(op.Concat(rows, axes(-1), axis=0), op.Add(position, scalar(1)))
        starts = op.Not(op.Equal(rows, before))
        ends = op.Not(op.Equal(rows, after))
        first = op.Reshape(op.NonZero(starts), axes(-1))
        last = op.Reshape(op.NonZero(ends), axes(-1))
        return starts, ends, first, last

    def slot_table(first, last):  # type: ignore[no-untyped-def]
        """``(slot [R, D], valid [R, D])``: positions first[r] .. last[r] of every run r
        laid out in a row, D = max(1, longest run); slots past a run's end repeat its
        first position."""
        count = op.Add(op.Sub(last, first), scalar(1))
        width = op.ReduceMax(op.Concat(count, op.Constant(value_ints=[1]), axis=0), keepdims=0)
        slots = op.Unsqueeze(op.Range(scalar(0), width, scalar(1)), axes(0))  # [1, D]
        valid = op.Less(slots, op.Unsqueeze(count, axes(1)))  # [R, D]
        first_b = op.Unsqueeze(first, axes(1))
        return op.Where(valid, op.Add(first_b, slots), first_b), valid

    def table_reduce(values, first, last, reduce: str, order=None):  # type: ignore[no-untyped-def]
        """Reduces ``values[order[first[r]:last[r] + 1]]`` for every r (``order`` None:
        the identity) through a padded table [R, D, *] reduced over axis 1. Slots past a
        run's end hold its first entry for max/min (harmless) and an appended zero entry
        for sum."""
        slot, valid = slot_table(first, last)
        if reduce in ("max", "min"):
            entry = slot if order is None else op.Gather(order, slot)
            table = op.Gather(values, entry)
            reducer = op.ReduceMax if reduce == "max" else op.ReduceMin
            return reducer(table, axes(1), keepdims=0)
        size = op.Shape(values, start=0, end=1)
        slot = op.Where(valid, slot, op.Squeeze(size))
        entry = slot if order is None else op.Gather(op.Concat(order, size, axis=0), slot)
        pad_shape = op.Concat(op.Constant(value_ints=[1]), op.Shape(values, start=1), axis=0)
        pad = op.Expand(op.CastLike(scalar(0), values), pad_shape)
        table = op.Gather(op.Concat(values, pad, axis=0), entry)
        return op.ReduceSum(table, axes(1), keepdims=0)

    def sorted_chunks(index, chunk: int | None = None):  # type: ignore[no-untyped-def]
        """The entries sorted by row (``order``, ``by_row``), the runs of equal rows
        (``run_first``, ``run_last``) and the runs cut into chunks of at most ``chunk``
        entries (``chunk_first``, ``chunk_last``), all positions in the sorted order.
        ``chunk`` None: floor(2 sqrt(longest run)), at most CHUNK. Chunks that short keep
        both tables of ``segment_reduce`` near E slots (chunks x chunk and runs x longest /
        chunk): with CHUNK alone a table of 16 random entries per row was 2x E."""
        entries = op.Shape(index)  # [1]
        num_entries = op.Squeeze(entries)
        position = op.Range(scalar(0), num_entries, scalar(1))  # [E]
        # The keys row * E + position are unique, so the order does not depend on how
        # TopK breaks ties.
        keys = op.Add(op.Mul(index, num_entries), position)
        _, order = op.TopK(keys, entries, largest=0, sorted=1)
        by_row = op.Gather(index, order)
        starts, ends, run_first, run_last = runs_of(by_row)
        if chunk is None:
            count = op.Add(op.Sub(run_last, run_first), scalar(1))
            longest = op.ReduceMax(op.Concat(count, axes(1), axis=0), keepdims=0)
            root = op.Floor(op.Sqrt(op.Cast(op.Mul(longest, scalar(4)), to=11)))
            width = op.Min(op.Cast(root, to=7), scalar(CHUNK))
        else:
            width = op.Constant(value_int=chunk)
        run = op.Sub(op.CumSum(op.Cast(starts, to=7), scalar(0)), scalar(1))
        slot = op.Mod(op.Sub(position, op.Gather(run_first, run)), width)
        chunk_first = op.Reshape(op.NonZero(op.Or(starts, op.Equal(slot, scalar(0)))), axes(-1))
        chunk_last = op.Reshape(
            op.NonZero(op.Or(ends, op.Equal(slot, op.Sub(width, scalar(1))))), axes(-1)
        )
        return order, by_row, run_first, run_last, chunk_first, chunk_last

    @onnx_impl(torch.ops.e2e_gnn.segment_reduce.default, trace_only=True)
    def _segment_reduce_onnx(src, index, dim_size, reduce: str):  # type: ignore[no-untyped-def]
        order, by_row, run_first, run_last, chunk_first, chunk_last = sorted_chunks(index)
        # Level 1: each chunk (at most CHUNK entries) reduced through a padded table;
        # level 2: the chunks of each run (consecutive, at most ceil(longest run / chunk))
        # reduced the same way. Memory stays near E x F even when one row has far more
        # entries than the others (a pooled batch with one large graph), where a single
        # table would be rows x longest run x F.
        kind = "sum" if reduce == "mean" else reduce
        partial = table_reduce(src, chunk_first, chunk_last, kind, order)  # [C, *]
        chunk_row = op.Gather(by_row, chunk_first)
        _, _, first, last = runs_of(chunk_row)
        out = table_reduce(partial, first, last, kind)  # [R, *]
        if reduce == "mean":
            ones = op.Add(op.Mul(op.Shape(src, start=1), scalar(0)), scalar(1))  # [1] * (rank - 1)
            count = op.Add(op.Sub(run_last, run_first), scalar(1))
            out = op.Div(
                out, op.CastLike(op.Reshape(count, op.Concat(axes(-1), ones, axis=0)), src)
            )
        # Each run into its own row (unique indices: no two updates meet); rows without
        # entries stay 0.
        out_shape = op.Concat(rows_of(dim_size), op.Shape(src, start=1), axis=0)
        zeros = op.Expand(op.CastLike(scalar(0), src), out_shape)
        run_row = op.Gather(by_row, run_first)
        return op.ScatterND(zeros, op.Unsqueeze(run_row, axes(-1)), out)

    @onnx_impl(torch.ops.e2e_gnn.edge_chunks.default, trace_only=True)
    def _edge_chunks_onnx(target, num_nodes, chunk: int):  # type: ignore[no-untyped-def]
        order, by_row, _, _, chunk_first, chunk_last = sorted_chunks(target, chunk)
        slot, valid = slot_table(chunk_first, chunk_last)
        return op.Gather(order, slot), valid, op.Gather(by_row, chunk_first)

    return True


ONNX_OPS_AVAILABLE = _register_onnx_translations()
