"""Scatter reductions (along any dimension), written so that they export to ONNX opset 18.

Every reduction is sized by ``dim_size`` (normally ``x.size(0)``, so the exported graph
keeps a dynamic node count), is exact for ``E = 0`` and gives ``0`` for rows that receive
no entry (isolated nodes), as torch_geometric's ``scatter`` does.

In eager mode (training, tests) the reductions are torch's scatter kernels:
``index_put(accumulate=True)`` for sums and counts (never ``index_add_``, whose reduction
the legacy exporter drops, and never ``scatter_reduce(reduce="mean")``, whose reduction the
dynamo exporter drops), ``scatter_reduce(amax/amin)`` into a -inf/+inf prefill for max/min.

While ``torch.export`` traces, every reduction is one custom op, ``e2e_gnn::segment_reduce``
(``_onnx_ops.py``), exported as sort + padded table + ReduceSum/ReduceMax: exact under any
ONNX Runtime session options. The ScatterND reductions used before are faster on one
thread but lose updates on several (microsoft/onnxruntime#18048); they are only exported
under :func:`scatternd_aggregation` (numbers and the choice: ``docs/aggregation.md``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Literal

import torch
from torch import Tensor

from e2e_gnn.nn._fused_ops import exporting_fused, fused_segment_reduce, fused_segment_softmax
from e2e_gnn.nn._onnx_ops import (
    ONNX_OPS_AVAILABLE,
    edge_chunks,
    prefilled_scatter_extreme,
    scatter_extreme,
    segment_reduce,
)

Reduce = Literal["sum", "add", "mean", "max", "min"]
REDUCTIONS = ("sum", "add", "mean", "max", "min")

_SCATTERND = contextvars.ContextVar("e2e_gnn_scatternd_aggregation", default=False)


@contextlib.contextmanager
def scatternd_aggregation() -> Iterator[None]:
    """Export the aggregations traced inside this block as ONNX ``ScatterND`` with
    reductions (add/max/min), the form used before the exact default.

    Faster in ONNX Runtime on one intra-op thread, but ONNX Runtime's CPU ScatterND
    reductions lose updates on more than one (microsoft/onnxruntime#18048, #23396):
    ``export_onnx`` records such a model with ``thread_safe=False`` and every runtime of
    e2e_gnn then runs it on one thread. Eager results are the same either way.
    """
    token = _SCATTERND.set(True)
    try:
        yield
    finally:
        _SCATTERND.reset(token)


def exporting_exact() -> bool:
    """Whether aggregations are being traced for the exact ONNX export (the default),
    rather than run eagerly or exported under :func:`scatternd_aggregation`."""
    return ONNX_OPS_AVAILABLE and torch.compiler.is_exporting() and not _SCATTERND.get()


def incoming_chunks(
    target: Tensor, num_nodes: int | torch.SymInt, chunk: int
) -> tuple[Tensor, ...]:
    """The incoming edges of every node as a table ``(edges [C, W], valid [C, W], rows
    [C])`` for the exact export: chunks of at most ``chunk`` edges of one target each
    (``e2e_gnn::edge_chunks`` in ``_onnx_ops.py``); a kNN graph with k <= chunk gives one
    row per node."""
    return edge_chunks(target, num_nodes, chunk)  # type: ignore[arg-type]


def _check(src: Tensor, index: Tensor, dim: int, reduce: str) -> int:
    """Checks the arguments of :func:`scatter`; returns ``dim`` as a non-negative int."""
    if reduce not in REDUCTIONS:
        msg = f"scatter: invalid `reduce` argument {reduce!r}; use one of {REDUCTIONS}"
        raise ValueError(msg)
    if index.dim() != 1:
        msg = (
            f"scatter: `index` must be one-dimensional (got {index.dim()} dimensions, "
            f"shape {tuple(index.shape)!r})"
        )
        raise ValueError(msg)
    if index.dtype != torch.long:
        msg = f"scatter: `index` must be int64 (torch.long), got {index.dtype!r}"
        raise TypeError(msg)
    if src.dim() < 1:
        msg = "scatter: `src` must have at least one dimension (got a 0-d tensor)"
        raise ValueError(msg)
    if not isinstance(dim, int) or not -src.dim() <= dim < src.dim():
        msg = (
            f"scatter: `dim` must lay between 0 and {src.dim() - 1} (a dimension of `src`, "
            f"shape {tuple(src.shape)!r}), got {dim!r}; the third argument is `dim` as in "
            "torch_geometric.utils.scatter: pass the number of output rows as dim_size="
        )
        raise ValueError(msg)
    dim = dim + src.dim() if dim < 0 else dim
    if src.size(dim) != index.size(0):
        msg = (
            f"scatter: `src` and `index` must have the same size in dim {dim}, got "
            f"src {tuple(src.shape)!r} and index {tuple(index.shape)!r}"
        )
        raise ValueError(msg)
    return dim


def _rows(index: Tensor, dim_size: int | torch.SymInt | Tensor | None) -> int | torch.SymInt:
    """The number of output rows: ``dim_size``, else ``index.max() + 1`` (eager only)."""
    if dim_size is not None:
        return _as_size(dim_size)
    if torch.compiler.is_exporting():
        msg = (
            "scatter: dim_size=None cannot be exported (the row count would depend on the "
            "values of `index`); pass dim_size, e.g. x.size(0)"
        )
        raise ValueError(msg)
    return int(index.max()) + 1 if index.numel() > 0 else 0


def _as_size(dim_size: int | torch.SymInt | Tensor) -> int | torch.SymInt:
    if isinstance(dim_size, Tensor):
        if dim_size.dim() != 0:
            msg = (
                f"scatter: `dim_size` must be an int or a 0-d tensor, got a tensor of shape "
                f"{tuple(dim_size.shape)!r}"
            )
            raise ValueError(msg)
        return int(dim_size)
    return dim_size


def _sum(src: Tensor, index: Tensor, dim_size: int | torch.SymInt) -> Tensor:
    # ONNX (under scatternd_aggregation): ScatterND(reduction="add").
    out = src.new_zeros((dim_size, *src.shape[1:]))
    return torch.index_put(out, (index,), src, accumulate=True)


def _count(index: Tensor, dim_size: int | torch.SymInt, like: Tensor) -> Tensor:
    """Number of entries per row, as ``like``'s dtype, shape [dim_size]."""
    ones = like.new_ones(index.shape)
    return torch.index_put(like.new_zeros((dim_size,)), (index,), ones, accumulate=True)


def _extreme(src: Tensor, index: Tensor, dim_size: int | torch.SymInt, reduce: str) -> Tensor:
    if ONNX_OPS_AVAILABLE and torch.compiler.is_exporting():
        # ONNX: ScatterND(reduction="max"/"min") (scatter_reduce would export to the
        # ScatterElements form, 24-40x slower in ONNX Runtime).
        out = scatter_extreme(src, index, dim_size, reduce)  # type: ignore[arg-type]
    else:
        out = prefilled_scatter_extreme(src, index, dim_size, reduce)  # type: ignore[arg-type]
    count = _count(index, dim_size, src)
    has_entry = (count > 0).view((-1,) + (1,) * (src.dim() - 1))
    return torch.where(has_entry, out, torch.zeros_like(out))


def eager_scatter(src: Tensor, index: Tensor, dim_size: int | torch.SymInt, reduce: str) -> Tensor:
    """:func:`scatter` with torch's scatter kernels and without argument checks."""
    if reduce in ("sum", "add"):
        return _sum(src, index, dim_size)
    if reduce == "mean":
        count = _count(index, dim_size, src).clamp(min=1)
        return _sum(src, index, dim_size) / count.view((-1,) + (1,) * (src.dim() - 1))
    return _extreme(src, index, dim_size, reduce)


def scatter(
    src: Tensor,
    index: Tensor,
    dim: int = 0,
    dim_size: int | torch.SymInt | Tensor | None = None,
    reduce: Reduce = "sum",
) -> Tensor:
    """Reduces the entries of ``src`` along ``dim`` into ``dim_size`` rows:
    ``out[..., i, ...] = reduce(src[..., index == i, ...])``, as
    ``torch_geometric.utils.scatter`` (same signature).

    Rows that receive no entry are 0 for every reduction (as in torch_geometric).

    Args:
        src (Tensor): values, shape ``[*, E, *]`` (E in dimension ``dim``).
        index (Tensor): int64 row of each value, shape ``[E]``, values in ``[0, dim_size)``.
        dim (int, optional): the dimension of ``src`` to reduce. (default: ``0``)
        dim_size (int, SymInt or 0-d Tensor, optional): number of output rows, normally
            ``x.size(0)``; ``index.max() + 1`` when ``None`` (eager only: the export needs
            it). (default: ``None``)
        reduce (str): ``"sum"`` (alias ``"add"``), ``"mean"``, ``"max"`` or ``"min"``.
            (default: ``"sum"``)

    Shapes:
        - **input:** src ``[*, E, *]``, index ``[E]``
        - **output:** ``[*, dim_size, *]``
    """
    dim = _check(src, index, dim, reduce)
    size = _rows(index, dim_size)
    if dim != 0:
        return scatter(src.movedim(dim, 0), index, 0, size, reduce).movedim(0, dim)
    if exporting_fused():
        name = "sum" if reduce == "add" else reduce
        return fused_segment_reduce(src, index, size, name)  # type: ignore[arg-type]
    if exporting_exact():
        name = "sum" if reduce == "add" else reduce
        return segment_reduce(src, index, size, name)  # type: ignore[arg-type]
    return eager_scatter(src, index, size, reduce)


def softmax(
    src: Tensor,
    index: Tensor | None = None,
    ptr: Tensor | None = None,
    num_nodes: int | torch.SymInt | Tensor | None = None,
    dim: int = 0,
) -> Tensor:
    """Softmax of ``src`` over the entries that share an ``index`` (e.g. the incoming edges
    of a node), as ``torch_geometric.utils.softmax`` (same signature):
    ``exp(src - max) / (sum exp(src - max) + 1e-16)`` per group.

    Args:
        src (Tensor): scores, shape ``[*, E, *]`` (E in dimension ``dim``).
        index (Tensor, optional): int64 group of each score, shape ``[E]``.
        ptr (Tensor, optional): the groups as CSR offsets of sorted entries (eager only;
            used when ``index`` is ``None``). (default: ``None``)
        num_nodes (int, SymInt or 0-d Tensor, optional): number of groups, normally
            ``x.size(0)``; ``index.max() + 1`` when ``None``. (default: ``None``)
        dim (int, optional): the dimension of ``src`` holding the entries. (default: ``0``)

    Shapes:
        - **input:** src ``[*, E, *]``, index ``[E]``
        - **output:** same as src
    """
    if index is None:
        if ptr is None:
            msg = "softmax: pass `index` (the group of each entry) or `ptr` (CSR offsets)"
            raise ValueError(msg)
        if torch.compiler.is_exporting():
            msg = "softmax: `ptr` cannot be exported; pass `index` (the group of each entry)"
            raise ValueError(msg)
        index = torch.arange(ptr.numel() - 1, device=ptr.device).repeat_interleave(ptr.diff())
        num_nodes = ptr.numel() - 1 if num_nodes is None else num_nodes
    if exporting_fused():  # one ai.e2e_gnn.SegmentSoftmax node
        dim = _check(src, index, dim, "max")
        size = _rows(index, num_nodes)
        out = fused_segment_softmax(src.movedim(dim, 0), index, size)  # type: ignore[arg-type]
        return out.movedim(0, dim)
    src_max = scatter(src.detach(), index, dim, num_nodes, "max")
    size = src_max.size(dim)
    out = (src - src_max.index_select(dim, index)).exp()
    out_sum = scatter(out, index, dim, size) + 1e-16
    return out / out_sum.index_select(dim, index)


def scatter_softmax(src: Tensor, index: Tensor, dim_size: int | torch.SymInt | Tensor) -> Tensor:
    """``softmax(src, index, num_nodes=dim_size)`` over dim 0 (the earlier name)."""
    return softmax(src, index, num_nodes=dim_size)


def gather(src: Tensor, index: Tensor) -> Tensor:
    """Rows of ``src`` at ``index`` (any shape): ``src[index]``, written as ``index_select``
    so that it exports to ONNX ``Gather`` (``src[index]`` exports to the slower ``GatherND``).

    Shapes:
        - **input:** src ``[N, *]``, index ``[*I]`` int64 in ``[0, N)``
        - **output:** ``[*I, *]``
    """
    rows = src.index_select(0, index.reshape(-1))
    return rows.reshape((*index.shape, *src.shape[1:]))
