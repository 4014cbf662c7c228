"""Argument checks shared by the layers and models (sizes, shapes and dtypes only: they cost
nothing at export)."""

from __future__ import annotations

import operator

import torch
from torch import Tensor


def check_x(layer: str, x: Tensor, in_channels: int | None = None) -> None:
    if x.dim() != 2:
        msg = f"{layer}: `x` must be [N, F], got shape {tuple(x.shape)!r}"
        raise ValueError(msg)
    if in_channels is not None and in_channels > 0 and x.size(1) != in_channels:
        msg = (
            f"{layer}: `x` has {x.size(1)} features, the layer was built with "
            f"in_channels={in_channels!r}"
        )
        raise ValueError(msg)


def check_edge_index(layer: str, edge_index: Tensor) -> None:
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        msg = (
            f"{layer}: `edge_index` must be [2, E] (source, target), got shape "
            f"{tuple(edge_index.shape)!r}"
        )
        raise ValueError(msg)
    if edge_index.dtype != torch.long:
        msg = f"{layer}: `edge_index` must be int64 (torch.long), got {edge_index.dtype!r}"
        raise TypeError(msg)


def check_edge_vector(layer: str, name: str, value: Tensor, edge_index: Tensor) -> None:
    if value.size(0) != edge_index.size(1):
        msg = (
            f"{layer}: `{name}` must have one row per edge (E = {edge_index.size(1)}), got "
            f"shape {tuple(value.shape)!r}"
        )
        raise ValueError(msg)


def reset(module: torch.nn.Module) -> None:
    """Resets ``module`` or, if it has no ``reset_parameters``, its children (PyG's ``reset``)."""
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
        return
    for child in module.children():
        reset(child)


def check_features(layer: str, x: Tensor, in_channels: int | None = None) -> None:
    """``x`` is ``[*, N, F]`` with ``F = in_channels`` (unless lazy, ``in_channels <= 0``)."""
    if x.dim() < 2:
        msg = f"{layer}: `x` must be [N, F] or [*, N, F], got shape {tuple(x.shape)!r}"
        raise ValueError(msg)
    if in_channels is not None and in_channels > 0 and x.size(-1) != in_channels:
        msg = (
            f"{layer}: `x` has {x.size(-1)} features, the layer was built with "
            f"in_channels={in_channels!r}"
        )
        raise ValueError(msg)


FLOWS = ("source_to_target", "target_to_source")


def check_flow(layer: str, flow: str) -> None:
    if flow not in FLOWS:
        msg = f"{layer}: `flow` must be one of {FLOWS}, got {flow!r}"
        raise ValueError(msg)


def check_2d(layer: str, name: str, *tensors: Tensor | None) -> None:
    """The given tensors (``None``: absent) are ``[N, F]``, for the layers whose
    torch_geometric versions take no leading batch dimensions."""
    for value in tensors:
        if value is not None and value.dim() != 2:
            msg = (
                f"{layer}: `{name}` must be [N, F] (as in torch_geometric; GCNConv, GraphConv, "
                f"SAGEConv, GINConv, ARMAConv take [*, N, F]), got shape {tuple(value.shape)!r}"
            )
            raise ValueError(msg)


def check_sizes(model: str, **sizes: int) -> None:
    """Every size ``model`` is built with is an integer >= 1: torch builds empty layers from a
    0, whose model then runs and gives constant scores."""
    for name, size in sizes.items():
        try:
            valid = operator.index(size) >= 1
        except TypeError:
            valid = False
        if not valid:
            msg = f"{model}: `{name}` must be an integer >= 1, got {size!r}"
            raise ValueError(msg)
