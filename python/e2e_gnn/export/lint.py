"""Find operations that export to a wrong or frozen ONNX graph, and the layer using them.

The model runs once on the export example under a TorchFunctionMode that sees every
torch call, while forward hooks keep track of which submodule is running, so the error
can say "layer convs.1 calls index_add_" and what to use instead. This runs before the
exporter, whose own failures name neither the layer nor a fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch.overrides import TorchFunctionMode


@dataclass(frozen=True)
class Problem:
    layer: str
    operation: str
    advice: str

    def __str__(self) -> str:
        return f"layer {self.layer!r} calls {self.operation}: {self.advice}"


class UnsupportedOperationError(ValueError):
    """The model uses operations that do not export correctly."""

    def __init__(self, problems: list[Problem]) -> None:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"the model cannot be exported as it is:\n{lines}")
        self.problems = problems


INDEX_ADD = (
    "the legacy exporter drops its reduction with duplicate indices and the dynamo "
    "exporter does not implement it; use e2e_gnn.nn.scatter(src, index, dim_size=N, reduce='sum')"
)
SCATTER_MEAN = (
    "the dynamo exporter turns scatter_reduce 'mean' into an unreduced scatter (silently "
    "wrong); use e2e_gnn.nn.scatter(src, index, dim_size=N, reduce='mean')"
)
DATA_DEPENDENT = (
    "Python control flow on a tensor's value is frozen into the exported graph at the "
    "example's value; use tensor operations (torch.where, masks, clamp) instead"
)


def _check_call(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str | None:
    """The advice for a call that does not export correctly, or None."""
    name = getattr(func, "__name__", "")
    if name in ("index_add", "index_add_"):
        return INDEX_ADD
    if name in ("scatter_reduce", "scatter_reduce_"):
        reduce = kwargs.get("reduce", args[3] if len(args) > 3 else None)
        if reduce == "mean":
            return SCATTER_MEAN
    if name in ("__bool__", "item", "tolist"):
        return DATA_DEPENDENT
    return None


class _Recorder(TorchFunctionMode):
    def __init__(self, layers: list[str]) -> None:
        super().__init__()
        self.layers = layers
        self.problems: dict[tuple[str, str], Problem] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        advice = _check_call(func, args, kwargs)
        if advice is not None:
            layer = self.layers[-1] if self.layers else "<model>"
            name = getattr(func, "__name__", repr(func))
            self.problems.setdefault((layer, name), Problem(layer, name, advice))
        return func(*args, **kwargs)


@contextmanager
def _layer_stack(model: torch.nn.Module, layers: list[str]) -> Iterator[None]:
    def leave(*_: object) -> None:  # a forward hook that returned a value would replace outputs
        layers.pop()

    handles = []
    for name, module in model.named_modules():
        label = name or type(model).__name__
        handles.append(module.register_forward_pre_hook(lambda *_, n=label: layers.append(n)))
        handles.append(module.register_forward_hook(leave))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def find_unsupported_operations(
    model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]
) -> list[Problem]:
    """Run ``model`` on ``inputs`` and list the calls that would export incorrectly."""
    layers: list[str] = []
    recorder = _Recorder(layers)
    with torch.no_grad(), _layer_stack(model, layers), recorder:
        model(*inputs)
    return list(recorder.problems.values())
