"""A ``MessagePassing`` base class with torch_geometric's contract, aggregating through
:func:`e2e_gnn.nn.scatter.scatter` so that the layers built on it export exactly.

A layer written for ``torch_geometric.nn.MessagePassing`` ports by changing the import of
its base class: ``propagate(edge_index, size=None, **kwargs)`` calls ``message``,
``aggregate`` and ``update`` with the arguments their signatures name, ``x_i`` / ``x_j``
being the rows of ``x`` (or of the pair ``(x_src, x_dst)``) at the target / source of each
edge, exactly as in torch_geometric.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn.scatter import scatter

SPECIAL_ARGS = frozenset(
    {"edge_index", "adj_t", "edge_index_i", "edge_index_j", "size", "size_i", "size_j"}
    | {"ptr", "index", "dim_size"}
)
AGGREGATIONS = ("sum", "add", "mean", "max", "min", "var", "std")
MULTI_MODES = ("cat", "sum", "mean", "max", "min")
FLOWS = ("source_to_target", "target_to_source")

# torch_geometric.nn.aggr modules accepted by class name (no torch_geometric import needed).
_AGGREGATION_CLASSES = {
    "SumAggregation": "sum",
    "MeanAggregation": "mean",
    "MaxAggregation": "max",
    "MinAggregation": "min",
    "VarAggregation": "var",
    "StdAggregation": "std",
}


def resolve_aggr(
    owner: str, aggr: object, aggr_kwargs: dict[str, Any] | None = None
) -> tuple[list[str], str]:
    """``aggr`` (a name, a list of names, or a torch_geometric ``Aggregation`` /
    ``MultiAggregation`` of the basic kinds) as ``(reductions, mode)``; ``mode`` combines
    several reductions as in ``MultiAggregation`` (``"cat"``: concatenated features)."""
    kwargs = dict(aggr_kwargs or {})
    mode = kwargs.pop("mode", "cat")
    name = type(aggr).__name__
    if name == "MultiAggregation":
        mode = getattr(aggr, "mode", mode)
        aggr = list(getattr(aggr, "aggrs", []))
    if isinstance(aggr, (list, tuple)):
        names = [_aggr_name(owner, a) for a in aggr]
    else:
        names = [_aggr_name(owner, aggr)]
    if kwargs:
        msg = (
            f"{owner}: aggr_kwargs {sorted(kwargs)!r} are not supported (only 'mode' for a "
            f"list of aggregations); supported aggregations: {AGGREGATIONS}"
        )
        raise ValueError(msg)
    if len(names) > 1 and mode not in MULTI_MODES:
        msg = (
            f"{owner}: MultiAggregation mode {mode!r} is not supported (it has learnable "
            f"parameters); use one of {MULTI_MODES}"
        )
        raise ValueError(msg)
    return names, mode


def _aggr_name(owner: str, aggr: object) -> str:
    name = _AGGREGATION_CLASSES.get(type(aggr).__name__, aggr)
    if not isinstance(name, str) or name not in AGGREGATIONS:
        msg = (
            f"{owner}: aggregation {aggr!r} is not supported (it cannot be exported exactly "
            f"or has learnable parameters); use one of {AGGREGATIONS} or a list of them"
        )
        raise ValueError(msg)
    return "sum" if name == "add" else name


def aggregate_messages(
    inputs: Tensor,
    index: Tensor,
    dim_size: int | torch.SymInt | None,
    reductions: Sequence[str],
    mode: str = "cat",
    dim: int = -2,
) -> Tensor:
    """Reduces ``inputs`` ``[*, E, F]`` (E in ``dim``) by ``index`` with every reduction
    (var/std as torch_geometric's ``VarAggregation``/``StdAggregation``) and combines them
    as ``MultiAggregation(mode)``: concatenated along the last dimension, or reduced."""
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
    if len(outs) == 1:
        return outs[0]
    if mode == "cat":
        return torch.cat(outs, dim=-1)
    stacked = torch.stack(outs, dim=0)
    if mode == "sum":
        return stacked.sum(0)
    if mode == "mean":
        return stacked.mean(0)
    return stacked.amax(0) if mode == "max" else stacked.amin(0)


def sparse_to_edge_index(owner: str, adj_t: Tensor) -> tuple[Tensor, Tensor]:
    """A ``torch.sparse`` transposed adjacency (COO, CSR or CSC; row = target, column =
    source, as torch_geometric's ``adj_t``) as ``(edge_index [2, E], values [E, *])``, in
    torch_geometric's edge order. Eager only: sparse tensors do not export."""
    if torch.compiler.is_exporting():
        msg = (
            f"{owner}: a torch.sparse adjacency cannot be exported to ONNX; pass "
            "edge_index = adj_t.indices()[[1, 0]] ([2, E], source then target) and the "
            "values as edge_weight"
        )
        raise ValueError(msg)
    if adj_t.layout == torch.sparse_coo:
        adj_t = adj_t.coalesce()
        row, col = adj_t.indices()
    elif adj_t.layout == torch.sparse_csr:
        crow = adj_t.crow_indices()
        row = torch.arange(crow.numel() - 1, device=crow.device).repeat_interleave(crow.diff())
        col = adj_t.col_indices()
    elif adj_t.layout == torch.sparse_csc:
        ccol = adj_t.ccol_indices()
        col = torch.arange(ccol.numel() - 1, device=ccol.device).repeat_interleave(ccol.diff())
        row = adj_t.row_indices()
        order = (row * adj_t.size(1) + col).argsort()
        row, col = row[order], col[order]
        return torch.stack([col, row]), adj_t.values()[order]
    else:
        msg = f"{owner}: unsupported sparse layout {adj_t.layout!r} (use COO, CSR or CSC)"
        raise ValueError(msg)
    return torch.stack([col, row]), adj_t.values()


def dense_edges(
    owner: str, edge_index: Tensor, edge_weight: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    """``(edge_index [2, E], edge_weight)`` of a layer's edge argument: a ``torch.sparse``
    ``adj_t`` becomes its edges and values (the weights, as torch_geometric reads them);
    a dense ``edge_index`` is returned with ``edge_weight`` unchanged."""
    if edge_index.layout == torch.strided:
        return edge_index, edge_weight
    return sparse_to_edge_index(owner, edge_index)


def _params(method: Callable[..., Any], skip_first: bool) -> list[inspect.Parameter]:
    params = list(inspect.signature(method).parameters.values())
    params = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return params[1:] if skip_first else params


class MessagePassing(torch.nn.Module):
    r"""Base class for message-passing layers, as ``torch_geometric.nn.MessagePassing``:

    .. math::
        \mathbf{x}_i^{\prime} = \gamma \left( \mathbf{x}_i, \bigoplus_{j \in
        \mathcal{N}(i)} \phi\left(\mathbf{x}_i, \mathbf{x}_j, \mathbf{e}_{j,i}\right)
        \right)

    with :math:`\phi` = :meth:`message`, :math:`\bigoplus` = :meth:`aggregate` and
    :math:`\gamma` = :meth:`update`. The aggregation is :func:`e2e_gnn.nn.scatter`, so
    a subclass exports to ONNX with dynamic node and edge counts and gives the same numbers
    on any number of ONNX Runtime threads.

    Args:
        aggr (str, list or torch_geometric Aggregation, optional): ``"sum"`` (alias
            ``"add"``), ``"mean"``, ``"max"``, ``"min"``, ``"var"``, ``"std"``, a list of
            them (combined as ``MultiAggregation``), ``None`` (the subclass overrides
            :meth:`aggregate`), or a torch_geometric aggregation module of those kinds.
            (default: ``"sum"``)
        aggr_kwargs (dict, optional): ``{"mode": ...}`` for a list of aggregations
            (``"cat"``, ``"sum"``, ``"mean"``, ``"max"``, ``"min"``). (default: ``None``)
        flow (str, optional): ``"source_to_target"`` (messages from ``edge_index[0]`` to
            ``edge_index[1]``) or ``"target_to_source"``. (default: ``"source_to_target"``)
        node_dim (int, optional): the node dimension of the feature tensors.
            (default: ``-2``)
        decomposed_layers (int, optional): accepted for compatibility; the result is the
            same for any value and the layer is never decomposed. (default: ``1``)
    """

    special_args = SPECIAL_ARGS

    def __init__(
        self,
        aggr: object = "sum",
        *,
        aggr_kwargs: dict[str, Any] | None = None,
        flow: str = "source_to_target",
        node_dim: int = -2,
        decomposed_layers: int = 1,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if flow not in FLOWS:
            msg = f"{owner}: `flow` must be one of {FLOWS}, got {flow!r}"
            raise ValueError(msg)
        self.aggr: str | list[str] | None
        if aggr is None:
            self.aggr, self._reductions, self._mode = None, [], "cat"
        else:
            self._reductions, self._mode = resolve_aggr(owner, aggr, aggr_kwargs)
            # PyG's spelling ("add" stays "add"); modules become their reductions' names.
            if isinstance(aggr, str):
                self.aggr = aggr
            elif isinstance(aggr, (list, tuple)) and all(isinstance(a, str) for a in aggr):
                self.aggr = list(aggr)
            elif isinstance(aggr, (list, tuple)) or type(aggr).__name__ == "MultiAggregation":
                self.aggr = list(self._reductions)
            else:
                self.aggr = self._reductions[0]
        self.flow = flow
        self.node_dim = node_dim
        self.decomposed_layers = decomposed_layers
        cls = type(self)
        self._message_params = _params(self.message, skip_first=False)
        self._aggregate_params = _params(self.aggregate, skip_first=True)
        self._update_params = _params(self.update, skip_first=True)
        self._edge_update_params = _params(self.edge_update, skip_first=False)
        self._fuse = cls.message_and_aggregate is not MessagePassing.message_and_aggregate

    def reset_parameters(self) -> None:
        """Resets the learnable parameters (none in the base class)."""

    def __repr__(self) -> str:
        if hasattr(self, "in_channels") and hasattr(self, "out_channels"):
            channels = f"{self.in_channels}, {self.out_channels}"
        elif hasattr(self, "channels"):
            channels = f"{self.channels}"
        else:
            channels = ""
        return f"{self.__class__.__name__}({channels})"

    def propagate(
        self, edge_index: Tensor, size: tuple[int | None, int | None] | None = None, **kwargs: Any
    ) -> Tensor:
        """Computes the messages of every edge, aggregates them per node and updates the
        nodes: ``update(aggregate(message(...), ...), ...)``.

        Args:
            edge_index (Tensor): ``[2, E]`` int64 (source, target) or a ``torch.sparse``
                transposed adjacency ``adj_t`` ``[N_dst, N_src]`` (eager only).
            size (tuple, optional): ``(N_src, N_dst)`` for a bipartite graph; inferred
                from the feature tensors when ``None``. (default: ``None``)
            **kwargs: the tensors that ``message``/``aggregate``/``update`` name; ``x``
                gives ``x_i`` and ``x_j`` (a pair ``(x_src, x_dst)`` gives ``x_j`` from
                ``x_src`` and ``x_i`` from ``x_dst``).
        """
        sizes, edge_index, kwargs, adj_t = self._check_input(edge_index, size, kwargs)
        if adj_t is not None and self._fuse and isinstance(self.aggr, str):
            data = self._collect(self._update_params, edge_index, sizes, kwargs)
            data["adj_t"] = adj_t
            fused = _params(self.message_and_aggregate, skip_first=True)
            out = self.message_and_aggregate(
                adj_t, **self._select(fused, data, "message_and_aggregate")
            )
            return self.update(out, **self._select(self._update_params, data, "update"))
        params = self._message_params + self._aggregate_params + self._update_params
        data = self._collect(params, edge_index, sizes, kwargs)
        data["adj_t"] = adj_t
        out = self.message(**self._select(self._message_params, data, "message"))
        out = self.aggregate(out, **self._select(self._aggregate_params, data, "aggregate"))
        return self.update(out, **self._select(self._update_params, data, "update"))

    def edge_updater(
        self, edge_index: Tensor, size: tuple[int | None, int | None] | None = None, **kwargs: Any
    ) -> Tensor:
        """Computes :meth:`edge_update` for every edge, with the same argument collection
        as :meth:`propagate`."""
        sizes, edge_index, kwargs, _ = self._check_input(edge_index, size, kwargs)
        data = self._collect(self._edge_update_params, edge_index, sizes, kwargs)
        return self.edge_update(**self._select(self._edge_update_params, data, "edge_update"))

    def message(self, x_j: Tensor) -> Tensor:
        """The message of every edge (default: the source features ``x_j``)."""
        return x_j

    def aggregate(
        self,
        inputs: Tensor,
        index: Tensor,
        ptr: Tensor | None = None,
        dim_size: int | None = None,
    ) -> Tensor:
        """Reduces the messages per target node with the layer's ``aggr``."""
        if not self._reductions:
            msg = f"{type(self).__name__}: aggr=None requires the layer to override `aggregate`"
            raise NotImplementedError(msg)
        return aggregate_messages(
            inputs, index, dim_size, self._reductions, self._mode, self.node_dim
        )

    def message_and_aggregate(self, edge_index: Tensor) -> Tensor:
        """Fused message and aggregation, called for sparse adjacencies when overridden."""
        raise NotImplementedError

    def update(self, inputs: Tensor) -> Tensor:
        """The new node features from the aggregated messages (default: unchanged)."""
        return inputs

    def edge_update(self) -> Tensor:
        """Edge-level computation called by :meth:`edge_updater`."""
        raise NotImplementedError

    def _check_input(
        self,
        edge_index: Tensor,
        size: tuple[int | None, int | None] | None,
        kwargs: dict[str, Any],
    ) -> tuple[list[Any], Tensor, dict[str, Any], Tensor | None]:
        owner = type(self).__name__
        if isinstance(edge_index, Tensor) and edge_index.layout != torch.strided:
            if self.flow == "target_to_source":
                msg = (
                    f"{owner}: flow='target_to_source' is invalid with a sparse adjacency; "
                    "pass the transposed sparse tensor (adj_t.t()) instead"
                )
                raise ValueError(msg)
            adj_t = edge_index
            edge_index, values = sparse_to_edge_index(owner, adj_t)
            kwargs = dict(kwargs)
            for name in ("edge_weight", "edge_attr", "edge_type"):
                if kwargs.get(name) is None:
                    kwargs[name] = None if name == "edge_attr" and values.dim() == 1 else values
            return [adj_t.size(1), adj_t.size(0)], edge_index, kwargs, adj_t
        if not isinstance(edge_index, Tensor):
            msg = (
                f"{owner}: `edge_index` must be an int64 tensor [2, E] or a torch.sparse "
                f"tensor, got {type(edge_index).__name__}"
            )
            raise ValueError(msg)
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            msg = (
                f"{owner}: `edge_index` must be [2, E] (source, target), got shape "
                f"{tuple(edge_index.shape)!r}"
            )
            raise ValueError(msg)
        if edge_index.dtype not in (torch.int64, torch.int32):
            msg = f"{owner}: `edge_index` must be int64 (torch.long), got {edge_index.dtype!r}"
            raise ValueError(msg)
        if size is None and callable(getattr(edge_index, "sparse_size", None)):
            size = edge_index.sparse_size()  # a torch_geometric EdgeIndex knows its sizes
        sizes = list(size) if size is not None else [None, None]
        return sizes, edge_index, kwargs, None

    def _set_size(self, sizes: list[Any], dim: int, src: Tensor) -> None:
        current = src.size(self.node_dim)
        if sizes[dim] is None:
            sizes[dim] = current
        elif isinstance(sizes[dim], int) and isinstance(current, int) and sizes[dim] != current:
            msg = (
                f"{type(self).__name__}: a tensor has {current} rows in dimension "
                f"{self.node_dim}, but `size` says {sizes[dim]}"
            )
            raise ValueError(msg)

    def _collect(
        self,
        params: list[inspect.Parameter],
        edge_index: Tensor,
        sizes: list[Any],
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        i, j = (1, 0) if self.flow == "source_to_target" else (0, 1)
        if edge_index.dtype != torch.long:
            edge_index = edge_index.long()
        out: dict[str, Any] = {}
        for param in params:
            name = param.name
            if name in out or name in SPECIAL_ARGS:
                continue
            if name[-2:] not in ("_i", "_j"):
                continue
            dim = j if name.endswith("_j") else i
            data = kwargs.get(name[:-2], inspect.Parameter.empty)
            if isinstance(data, (tuple, list)):
                if len(data) != 2:
                    msg = (
                        f"{type(self).__name__}: `{name[:-2]}` must be a tensor or a pair "
                        f"(source, target), got {len(data)} items"
                    )
                    raise ValueError(msg)
                if isinstance(data[1 - dim], Tensor):
                    self._set_size(sizes, 1 - dim, data[1 - dim])
                data = data[dim]
            if isinstance(data, Tensor):
                self._set_size(sizes, dim, data)
                data = self._lift(data, edge_index[dim], name)
            if data is not inspect.Parameter.empty:
                out[name] = data
        out["edge_index"] = edge_index
        out["edge_index_i"] = edge_index[i]
        out["edge_index_j"] = edge_index[j]
        out["index"] = edge_index[i]
        out["ptr"] = None
        out["size"] = sizes
        out["size_i"] = sizes[i] if sizes[i] is not None else sizes[j]
        out["size_j"] = sizes[j] if sizes[j] is not None else sizes[i]
        out["dim_size"] = out["size_i"]
        for name, value in kwargs.items():
            out.setdefault(name, value)
        return out

    def _lift(self, data: Tensor, index: Tensor, name: str) -> Tensor:
        """``data``'s rows at ``index`` (the node of every edge), with a clear error for an
        index out of range in eager mode."""
        try:
            return data.index_select(self.node_dim, index)
        except (IndexError, RuntimeError) as err:
            rows = data.size(self.node_dim)
            if index.numel() > 0 and (int(index.min()) < 0 or int(index.max()) >= rows):
                msg = (
                    f"{type(self).__name__}: `edge_index` holds node indices in "
                    f"[{int(index.min())}, {int(index.max())}] but `{name[:-2]}` has {rows} "
                    f"rows (for `{name}`)"
                )
                raise IndexError(msg) from err
            raise

    def _select(
        self, params: list[inspect.Parameter], data: dict[str, Any], method: str
    ) -> dict[str, Any]:
        selected = {}
        for param in params:
            if param.name in data:
                selected[param.name] = data[param.name]
            elif param.default is inspect.Parameter.empty:
                msg = (
                    f"{type(self).__name__}.{method}: required argument `{param.name}` is "
                    f"missing; pass it (or `{param.name[:-2]}` for a _i/_j argument) to "
                    "propagate"
                )
                raise TypeError(msg)
        return selected
