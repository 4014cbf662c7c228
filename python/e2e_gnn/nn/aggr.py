"""Aggregations of messages, as ``torch_geometric.nn.aggr``: the basic reductions by name,
the learnable ``softmax`` and ``powermean``, and ``MultiAggregation``'s combinations, every
one reducing through :func:`e2e_gnn.nn.scatter.scatter` so that it exports exactly.
Parameters are named as torch_geometric's, so a layer's ``aggr_module.*`` weights load
from its state_dict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn.scatter import scatter, softmax

AGGREGATIONS = ("sum", "add", "mean", "max", "min", "var", "std", "softmax", "powermean")
MULTI_MODES = ("cat", "proj", "attn", "sum", "mean", "max", "min", "logsumexp", "std", "var")

# torch_geometric.nn.aggr modules accepted by class name (no torch_geometric import needed).
_AGGREGATION_CLASSES = {
    "SumAggregation": "sum",
    "MeanAggregation": "mean",
    "MaxAggregation": "max",
    "MinAggregation": "min",
    "VarAggregation": "var",
    "StdAggregation": "std",
}


class SoftmaxAggregation(torch.nn.Module):
    r"""torch_geometric's ``SoftmaxAggregation``: :math:`\sum_j \mathrm{softmax}_j(t
    \mathbf{x}_j) \odot \mathbf{x}_j` per target node (same arguments, parameter ``t``),
    computed with :func:`e2e_gnn.nn.softmax` and :func:`e2e_gnn.nn.scatter`, so it exports
    exactly."""

    name = "softmax"

    def __init__(
        self, t: float = 1.0, learn: bool = False, semi_grad: bool = False, channels: int = 1
    ) -> None:
        super().__init__()
        if learn and semi_grad:
            msg = "SoftmaxAggregation: cannot enable 'semi_grad' when 't' is learnable"
            raise ValueError(msg)
        if not learn and channels != 1:
            msg = "SoftmaxAggregation: 'channels' > 1 needs learn=True"
            raise ValueError(msg)
        self._init_t = t
        self.learn = learn
        self.semi_grad = semi_grad
        self.channels = channels
        self.t: Tensor | float = torch.nn.Parameter(torch.empty(channels)) if learn else t
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if isinstance(self.t, Tensor):
            self.t.data.fill_(self._init_t)

    def forward(
        self, x: Tensor, index: Tensor, dim_size: int | torch.SymInt | None, dim: int = -2
    ) -> Tensor:
        t = self.t.view(-1, self.channels) if isinstance(self.t, Tensor) else self.t
        alpha = x if isinstance(t, (int, float)) and t == 1 else x * t
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.semi_grad):
            alpha = softmax(alpha, index, num_nodes=dim_size, dim=dim)
        return scatter(x * alpha, index, dim, dim_size, "sum")

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(learn={self.learn})"


class PowerMeanAggregation(torch.nn.Module):
    r"""torch_geometric's ``PowerMeanAggregation``: :math:`(\frac{1}{|\mathcal{N}(i)|}
    \sum_j \mathbf{x}_j^p)^{1/p}` per target node, inputs and mean clamped to
    ``[clamp_min, clamp_max]`` (same arguments, parameter ``p``); exports exactly."""

    name = "powermean"

    def __init__(
        self,
        p: float = 1.0,
        learn: bool = False,
        channels: int = 1,
        clamp_min: float | None = 1e-4,
        clamp_max: float | None = 100.0,
    ) -> None:
        super().__init__()
        if not learn and channels != 1:
            msg = "PowerMeanAggregation: 'channels' > 1 needs learn=True"
            raise ValueError(msg)
        self._init_p = p
        self.learn = learn
        self.channels = channels
        self.p: Tensor | float = torch.nn.Parameter(torch.empty(channels)) if learn else p
        self.min_value = clamp_min
        self.max_value = clamp_max
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if isinstance(self.p, Tensor):
            self.p.data.fill_(self._init_p)

    def forward(
        self, x: Tensor, index: Tensor, dim_size: int | torch.SymInt | None, dim: int = -2
    ) -> Tensor:
        p = self.p.view(-1, self.channels) if isinstance(self.p, Tensor) else self.p
        identity = isinstance(p, (int, float)) and p == 1
        if not identity:
            x = x.clamp(min=self.min_value, max=self.max_value).pow(p)
        out = scatter(x, index, dim, dim_size, "mean")
        if not identity:
            out = out.clamp(min=self.min_value, max=self.max_value).pow(1.0 / p)
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(learn={self.learn})"


class _Reduction(torch.nn.Module):
    """One parameter-free reduction as a module (a member of :class:`MultiAggregation`)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def forward(
        self, x: Tensor, index: Tensor, dim_size: int | torch.SymInt | None, dim: int = -2
    ) -> Tensor:
        return aggregate_messages(x, index, dim_size, [self.name], dim=dim)

    def __repr__(self) -> str:
        return f"{self.name.capitalize()}Aggregation()"


class _HeadLinears(torch.nn.Module):
    """One Linear per aggregation (torch_geometric's ``HeteroDictLinear`` keyed "0", "1",
    ...), the inputs of ``MultiAggregation(mode="attn")``."""

    def __init__(self, in_channels: list[int], out_channels: int) -> None:
        super().__init__()
        self.lins = torch.nn.ModuleDict(
            {str(i): torch.nn.Linear(width, out_channels) for i, width in enumerate(in_channels)}
        )


class MultiAggregation(torch.nn.Module):
    """torch_geometric's ``MultiAggregation`` with parametric members or the modes with
    parameters, ``"proj"`` (a Linear over the concatenation) and ``"attn"`` (multi-head
    attention over the aggregations); same module layout, so the state_dict keys are PyG's
    (``aggrs.<i>.t``, ``lin.weight``, ``lin_heads.lins.<i>.weight``, ``multihead_attn.*``).
    Lists of parameter-free reductions in the other modes take :func:`aggregate_messages`."""

    def __init__(
        self, owner: str, aggrs: list[str | torch.nn.Module], mode: str, mode_kwargs: dict
    ) -> None:
        super().__init__()
        self.aggrs = torch.nn.ModuleList(
            [_Reduction(a) if isinstance(a, str) else a for a in aggrs]
        )
        self.mode = mode
        kwargs = dict(mode_kwargs)
        self.in_channels = kwargs.pop("in_channels", None)
        self.out_channels = kwargs.pop("out_channels", None)
        if mode in ("proj", "attn"):
            if len(aggrs) == 1:
                msg = f"{owner}: MultiAggregation mode {mode!r} needs several aggregations"
                raise ValueError(msg)
            if self.in_channels is None or self.out_channels is None:
                msg = (
                    f"{owner}: MultiAggregation mode {mode!r} needs mode_kwargs in_channels "
                    "and out_channels"
                )
                raise ValueError(msg)
            if isinstance(self.in_channels, int):
                self.in_channels = [self.in_channels] * len(aggrs)
        if mode == "proj":
            self.lin = torch.nn.Linear(sum(self.in_channels), self.out_channels, **kwargs)
        elif mode == "attn":
            num_heads = kwargs.pop("num_heads", 1)
            self.lin_heads = _HeadLinears(self.in_channels, self.out_channels)
            self.multihead_attn = torch.nn.MultiheadAttention(
                self.out_channels, num_heads, **kwargs
            )

    def forward(
        self, x: Tensor, index: Tensor, dim_size: int | torch.SymInt | None, dim: int = -2
    ) -> Tensor:
        outs = [aggr(x, index, dim_size, dim) for aggr in self.aggrs]
        if self.mode == "proj":
            return self.lin(torch.cat(outs, dim=-1))
        if self.mode == "attn":
            lins = self.lin_heads.lins.values()
            heads = torch.stack([lin(out) for lin, out in zip(lins, outs, strict=True)])
            return self.multihead_attn(heads, heads, heads, need_weights=False)[0].mean(dim=0)
        return combine(outs, self.mode)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({list(self.aggrs)}, mode={self.mode})"


def resolve_aggr(
    owner: str, aggr: object, aggr_kwargs: dict[str, Any] | None = None
) -> tuple[list[str | torch.nn.Module], str, dict[str, Any], bool]:
    """``aggr`` (a name, a list of names, or torch_geometric aggregation modules of the
    supported kinds) and ``aggr_kwargs`` (as torch_geometric reads them: the aggregation's
    arguments, or ``mode``, ``mode_kwargs``, ``aggrs_kwargs`` for a list) as
    ``(reductions, mode, mode_kwargs, is_list)``: a reduction is a name or, for the
    parametric kinds, a module; ``mode`` combines several as ``MultiAggregation``."""
    kwargs = dict(aggr_kwargs or {})
    if type(aggr).__name__ == "MultiAggregation":
        mode = getattr(aggr, "mode", "cat")
        if mode not in MULTI_MODES or mode in ("proj", "attn"):
            msg = (
                f"{owner}: a MultiAggregation module in mode {mode!r} is not supported; pass "
                "the list of aggregations and aggr_kwargs={'mode': ..., 'mode_kwargs': ...}"
            )
            raise ValueError(msg)
        kwargs.setdefault("mode", mode)
        aggr = list(getattr(aggr, "aggrs", []))
    is_list = isinstance(aggr, (list, tuple))
    mode, mode_kwargs = "cat", {}
    if isinstance(aggr, (list, tuple)):
        mode = kwargs.pop("mode", "cat")
        mode_kwargs = dict(kwargs.pop("mode_kwargs", None) or {})
        aggrs_kwargs = kwargs.pop("aggrs_kwargs", None) or [{}] * len(aggr)
        if len(aggrs_kwargs) != len(aggr):
            msg = (
                f"{owner}: aggrs_kwargs has {len(aggrs_kwargs)} entries for {len(aggr)} "
                "aggregations"
            )
            raise ValueError(msg)
        reductions = [_resolve_one(owner, a, k) for a, k in zip(aggr, aggrs_kwargs, strict=True)]
    else:
        reductions = [_resolve_one(owner, aggr, kwargs)]
        kwargs = {}
    if kwargs:
        msg = (
            f"{owner}: aggr_kwargs {sorted(kwargs)!r} are not supported for a list of "
            "aggregations (use 'mode', 'mode_kwargs', 'aggrs_kwargs')"
        )
        raise ValueError(msg)
    if len(reductions) > 1 and mode not in MULTI_MODES:
        msg = f"{owner}: MultiAggregation mode {mode!r} is not supported; use one of {MULTI_MODES}"
        raise ValueError(msg)
    return reductions, mode, mode_kwargs, is_list


def _resolve_one(owner: str, aggr: object, kwargs: dict[str, Any]) -> str | torch.nn.Module:
    if isinstance(aggr, (SoftmaxAggregation, PowerMeanAggregation)):
        return aggr
    cls = type(aggr).__name__
    if cls == "SoftmaxAggregation":  # torch_geometric's: the same module, ours
        ours: torch.nn.Module = SoftmaxAggregation(
            aggr._init_t,
            aggr.learn,
            aggr.semi_grad,
            aggr.channels,
        )
        _copy_parameter(ours, aggr, "t")
        return ours
    if cls == "PowerMeanAggregation":
        ours = PowerMeanAggregation(
            aggr._init_p,
            aggr.learn,
            aggr.channels,
            aggr.min_value,
            aggr.max_value,
        )
        _copy_parameter(ours, aggr, "p")
        return ours
    name = _AGGREGATION_CLASSES.get(cls, aggr)
    if not isinstance(name, str) or name not in AGGREGATIONS:
        msg = (
            f"{owner}: aggregation {aggr!r} is not supported (not implemented: it has no "
            f"exact exportable form here); use one of {AGGREGATIONS} or a list of them"
        )
        raise ValueError(msg)
    if name in ("softmax", "powermean"):
        parametric = SoftmaxAggregation if name == "softmax" else PowerMeanAggregation
        try:
            return parametric(**kwargs)
        except TypeError as err:
            msg = f"{owner}: invalid arguments {sorted(kwargs)!r} for aggregation {name!r}: {err}"
            raise ValueError(msg) from err
    if kwargs:
        msg = f"{owner}: aggregation {name!r} takes no arguments, got {sorted(kwargs)!r}"
        raise ValueError(msg)
    return "sum" if name == "add" else name


def _copy_parameter(ours: torch.nn.Module, theirs: object, name: str) -> None:
    value = getattr(theirs, name)
    if isinstance(value, Tensor):
        with torch.no_grad():
            getattr(ours, name).copy_(value)


def combine(outs: Sequence[Tensor], mode: str) -> Tensor:
    """Several aggregations of the same messages combined as ``MultiAggregation(mode)``:
    concatenated along the last dimension, or reduced elementwise."""
    if len(outs) == 1:
        return outs[0]
    if mode == "cat":
        return torch.cat(list(outs), dim=-1)
    stacked = torch.stack(list(outs), dim=0)
    if mode == "sum":
        return stacked.sum(0)
    if mode == "mean":
        return stacked.mean(0)
    if mode == "max":
        return stacked.amax(0)
    if mode == "min":
        return stacked.amin(0)
    if mode == "logsumexp":
        return torch.logsumexp(stacked, dim=0)
    # Unbiased, as torch.var; written two-pass so the exported graph does not cancel.
    deviation = stacked - stacked.mean(0)
    var = (deviation * deviation).sum(0) / (len(outs) - 1)
    return var.sqrt() if mode == "std" else var


def aggregate_messages(
    inputs: Tensor,
    index: Tensor,
    dim_size: int | torch.SymInt | None,
    reductions: Sequence[str],
    mode: str = "cat",
    dim: int = -2,
) -> Tensor:
    """Reduces ``inputs`` ``[*, E, F]`` (E in ``dim``) by ``index`` with every
    parameter-free reduction (var/std as torch_geometric's ``VarAggregation`` /
    ``StdAggregation``) and combines them with :func:`combine`."""
    outs = []
    for reduce in reductions:
        if reduce in ("var", "std"):
            mean = scatter(inputs, index, dim, dim_size, "mean")
            out = scatter(inputs * inputs, index, dim, dim_size, "mean") - mean * mean
            if reduce == "std":
                out = out.clamp(min=1e-5).sqrt()
                out = out.masked_fill(out <= 1e-5**0.5, 0.0)
        else:
            out = scatter(inputs, index, dim, dim_size, reduce)  # type: ignore[arg-type]
        outs.append(out)
    return combine(outs, mode)
