"""Scatter reductions over dim 0, written so that they export to ONNX opset 18.

Every reduction is sized by ``dim_size`` (normally ``x.size(0)``, so the exported graph
keeps a dynamic node count), is exact for ``E = 0`` and gives ``0`` for rows that receive
no entry (isolated nodes), as torch_geometric's ``scatter`` does.

ONNX choices (numbers in ``docs/aggregation.md``):

- sum: ``index_put(accumulate=True)``, which the dynamo exporter emits as
  ``ScatterND(reduction="add")``; ONNX Runtime runs it 25-65x faster than the
  ``ScatterElements(reduction="add")`` that ``scatter_add`` becomes.
- mean: sum / clamp(count, 1), both sums through ``ScatterND(add)``.
  ``scatter_reduce(reduce="mean")`` is never used: the dynamo exporter silently drops
  its reduction.
- max/min: ``ScatterND(reduction="max"/"min")`` into a buffer prefilled with -inf/+inf
  (a custom op while exporting, see ``_onnx_ops.py``; torch's ``scatter_reduce`` in eager),
  then rows without entries are set to 0 from the ScatterND entry count.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from e2e_gnn.nn._onnx_ops import (
    ND_EXTREME_AVAILABLE,
    prefilled_scatter_extreme,
    scatter_extreme,
)

Reduce = Literal["sum", "add", "mean", "max", "min"]
REDUCTIONS = ("sum", "add", "mean", "max", "min")


def _check(src: Tensor, index: Tensor, reduce: str) -> None:
    if reduce not in REDUCTIONS:
        msg = f"scatter: `reduce` must be one of {REDUCTIONS}, got {reduce!r}"
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
    if src.size(0) != index.size(0):
        msg = (
            f"scatter: `src` and `index` must have the same size in dim 0, got "
            f"src {tuple(src.shape)!r} and index {tuple(index.shape)!r}"
        )
        raise ValueError(msg)


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
    # ONNX: ScatterND(reduction="add"). Never `index_add_` (the legacy exporter drops the
    # reduction) and never `scatter_add` (ScatterElements(add), sequential in ORT).
    out = src.new_zeros((dim_size, *src.shape[1:]))
    return torch.index_put(out, (index,), src, accumulate=True)


def _count(index: Tensor, dim_size: int | torch.SymInt, like: Tensor) -> Tensor:
    """Number of entries per row, as ``like``'s dtype, shape [dim_size]."""
    ones = like.new_ones(index.shape)
    return torch.index_put(like.new_zeros((dim_size,)), (index,), ones, accumulate=True)


def _extreme(src: Tensor, index: Tensor, dim_size: int | torch.SymInt, reduce: str) -> Tensor:
    if ND_EXTREME_AVAILABLE and torch.compiler.is_exporting():
        # ONNX: ScatterND(reduction="max"/"min"), 24-40x faster in ONNX Runtime than the
        # ScatterElements that scatter_reduce exports to (see _onnx_ops.py).
        out = scatter_extreme(src, index, dim_size, reduce)  # type: ignore[arg-type]
    else:
        out = prefilled_scatter_extreme(src, index, dim_size, reduce)  # type: ignore[arg-type]
    count = _count(index, dim_size, src)
    has_entry = (count > 0).view((-1,) + (1,) * (src.dim() - 1))
    return torch.where(has_entry, out, torch.zeros_like(out))


def scatter(
    src: Tensor,
    index: Tensor,
    dim_size: int | torch.SymInt | Tensor,
    reduce: Reduce = "sum",
) -> Tensor:
    """Reduces the rows of ``src`` into ``dim_size`` rows: ``out[i] = reduce(src[index == i])``.

    Rows that receive no entry are 0 for every reduction (as in torch_geometric).

    Args:
        src (Tensor): values, shape ``[E, *]``.
        index (Tensor): int64 row of each value, shape ``[E]``, values in ``[0, dim_size)``.
        dim_size (int, SymInt or 0-d Tensor): number of output rows, normally ``x.size(0)``.
        reduce (str): ``"sum"`` (alias ``"add"``), ``"mean"``, ``"max"`` or ``"min"``.
            (default: ``"sum"``)

    Shapes:
        - **input:** src ``[E, *]``, index ``[E]``
        - **output:** ``[dim_size, *]``
    """
    _check(src, index, reduce)
    size = _as_size(dim_size)
    if reduce in ("sum", "add"):
        return _sum(src, index, size)
    if reduce == "mean":
        count = _count(index, size, src).clamp(min=1)
        return _sum(src, index, size) / count.view((-1,) + (1,) * (src.dim() - 1))
    return _extreme(src, index, size, reduce)


def scatter_softmax(src: Tensor, index: Tensor, dim_size: int | torch.SymInt | Tensor) -> Tensor:
    """Softmax of ``src`` over the entries that share an ``index`` (e.g. incoming edges).

    Matches ``torch_geometric.utils.softmax(src, index, num_nodes=dim_size)``:
    ``exp(src - max) / (sum exp(src - max) + 1e-16)`` per group.

    Args:
        src (Tensor): scores, shape ``[E, *]`` (e.g. ``[E, heads]``).
        index (Tensor): int64 group of each score, shape ``[E]``.
        dim_size (int, SymInt or 0-d Tensor): number of groups, normally ``x.size(0)``.

    Shapes:
        - **input:** src ``[E, *]``, index ``[E]``
        - **output:** ``[E, *]``
    """
    _check(src, index, "max")
    size = _as_size(dim_size)
    src_max = _extreme(src.detach(), index, size, "max")
    out = (src - gather(src_max, index)).exp()
    out_sum = _sum(out, index, size) + 1e-16
    return out / gather(out_sum, index)


def gather(src: Tensor, index: Tensor) -> Tensor:
    """Rows of ``src`` at ``index`` (any shape): ``src[index]``, written as ``index_select``
    so that it exports to ONNX ``Gather`` (``src[index]`` exports to the slower ``GatherND``).

    Shapes:
        - **input:** src ``[N, *]``, index ``[*I]`` int64 in ``[0, N)``
        - **output:** ``[*I, *]``
    """
    rows = src.index_select(0, index.reshape(-1))
    return rows.reshape((*index.shape, *src.shape[1:]))
