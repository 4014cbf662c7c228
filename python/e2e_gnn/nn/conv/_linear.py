"""Linear layers for the convolutions: lazy (``in_channels=-1``, sized by the first forward
pass or by ``load_state_dict``) as torch_geometric's ``Linear``, and the fused form of
``lin_a(a) + lin_b(b)`` used by several layers."""

from __future__ import annotations

from typing import TypeGuard

import torch
from torch import Tensor


def linear(in_channels: int, out_channels: int, bias: bool = True) -> torch.nn.Module:
    """``torch.nn.Linear``, or ``torch.nn.LazyLinear`` when ``in_channels <= 0`` (same
    parameter names: ``weight``, ``bias``)."""
    if in_channels <= 0:
        return torch.nn.LazyLinear(out_channels, bias=bias)
    return torch.nn.Linear(in_channels, out_channels, bias=bias)


def pair(in_channels: int | tuple[int, int]) -> tuple[int, int]:
    """``in_channels`` as ``(source, target)`` widths, as torch_geometric's layers take it."""
    if isinstance(in_channels, int):
        return in_channels, in_channels
    return in_channels


def linear_sum(lin_a: torch.nn.Module, a: Tensor, lin_b: torch.nn.Module, b: Tensor) -> Tensor:
    """``lin_a(a) + lin_b(b)`` (``lin_b`` without bias) as one matrix product over
    ``[a || b]`` (one Gemm in ONNX) once both are initialised."""
    weight_a, weight_b = lin_a.weight, lin_b.weight  # type: ignore[union-attr]
    # isinstance rather than is_lazy: torch.compile traces it without a graph break.
    lazy = torch.nn.parameter.UninitializedParameter
    if isinstance(weight_a, lazy) or isinstance(weight_b, lazy):
        return lin_a(a) + lin_b(b)
    weight = torch.cat([weight_a, weight_b], dim=1)  # type: ignore[list-item]
    return torch.nn.functional.linear(torch.cat([a, b], -1), weight, lin_a.bias)  # type: ignore[arg-type]


def narrows(lin: torch.nn.Module) -> TypeGuard[torch.nn.Linear]:
    """Whether ``lin`` is an initialised Linear with fewer outputs than inputs (then a
    linear aggregation costs less after it than before it)."""
    return isinstance(lin, torch.nn.Linear) and 0 < lin.out_features < lin.in_features


def widens(lin: torch.nn.Module) -> TypeGuard[torch.nn.Linear]:
    """Whether ``lin`` is an initialised Linear with more outputs than inputs (then a linear
    aggregation costs less before it than after it)."""
    return isinstance(lin, torch.nn.Linear) and 0 < lin.in_features < lin.out_features
