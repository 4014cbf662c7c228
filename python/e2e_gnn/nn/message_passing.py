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
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.hooks import RemovableHandle

from e2e_gnn.nn._checks import check_flow
from e2e_gnn.nn.aggr import MultiAggregation, aggregate_messages, resolve_aggr

SPECIAL_ARGS = frozenset(
    {"edge_index", "adj_t", "edge_index_i", "edge_index_j", "size", "size_i", "size_j"}
    | {"ptr", "index", "dim_size"}
)


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


HookDict = OrderedDict[int, Callable[..., Any]]


def _register(hooks: HookDict, hook: Callable[..., Any]) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def _run_pre_hooks(module: torch.nn.Module, hooks: HookDict, kwargs: dict[str, Any]) -> Any:
    """``kwargs`` after torch_geometric's pre-hooks of one step (each may return
    ``(kwargs,)`` or ``kwargs``)."""
    for hook in hooks.values():
        res = hook(module, (kwargs,))
        if res is not None:
            kwargs = res[0] if isinstance(res, tuple) else res
    return kwargs


def _run_hooks(module: torch.nn.Module, hooks: HookDict, inputs: tuple[Any, ...], out: Any) -> Any:
    """``out`` after torch_geometric's forward hooks of one step (each may replace it)."""
    for hook in hooks.values():
        res = hook(module, inputs, out)
        if res is not None:
            out = res
    return out


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
            ``"add"``), ``"mean"``, ``"max"``, ``"min"``, ``"var"``, ``"std"``,
            ``"softmax"``, ``"powermean"``, a list of them (combined as
            ``MultiAggregation``), ``None`` (the subclass overrides :meth:`aggregate`), or
            torch_geometric aggregation modules of those kinds. (default: ``"sum"``)
        aggr_kwargs (dict, optional): as torch_geometric reads it: the arguments of one
            aggregation (``{"t": 0.5, "learn": True}`` for ``"softmax"``), or for a list
            ``mode`` (``"cat"``, ``"proj"``, ``"attn"``, ``"sum"``, ``"mean"``, ``"max"``,
            ``"min"``, ``"logsumexp"``, ``"std"``, ``"var"``), ``mode_kwargs``
            (``in_channels``, ``out_channels``, ``num_heads``, ... for ``"proj"`` and
            ``"attn"``) and ``aggrs_kwargs``. Parameters live in
            ``aggr_module`` under torch_geometric's names. (default: ``None``)
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
        check_flow(owner, flow)
        self.aggr: str | list[str] | None
        self._reductions: list[str] = []
        self._mode = "cat"
        # torch_geometric's aggr_module, for the aggregations that need one (parameters,
        # mode "proj" or "attn"); the others reduce through aggregate_messages.
        self._uses_aggr_module = False
        if aggr is not None:
            reductions, self._mode, mode_kwargs, is_list = resolve_aggr(owner, aggr, aggr_kwargs)
            self._reductions = [r if isinstance(r, str) else str(r.name) for r in reductions]
            if self._mode in ("proj", "attn") or not all(isinstance(r, str) for r in reductions):
                self._uses_aggr_module = True
                self.aggr_module = (
                    MultiAggregation(owner, reductions, self._mode, mode_kwargs)
                    if is_list
                    else reductions[0]
                )
            # PyG's spelling ("add" stays "add"); modules become their reductions' names.
            if isinstance(aggr, str):
                self.aggr = aggr
            elif isinstance(aggr, (list, tuple)) and all(isinstance(a, str) for a in aggr):
                self.aggr = list(aggr)
            elif is_list:
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
        # torch_geometric's hooks around propagate and its steps (register_*_hook below).
        self._propagate_forward_pre_hooks: HookDict = OrderedDict()
        self._propagate_forward_hooks: HookDict = OrderedDict()
        self._message_forward_pre_hooks: HookDict = OrderedDict()
        self._message_forward_hooks: HookDict = OrderedDict()
        self._aggregate_forward_pre_hooks: HookDict = OrderedDict()
        self._aggregate_forward_hooks: HookDict = OrderedDict()
        self._message_and_aggregate_forward_pre_hooks: HookDict = OrderedDict()
        self._message_and_aggregate_forward_hooks: HookDict = OrderedDict()
        self._edge_update_forward_pre_hooks: HookDict = OrderedDict()
        self._edge_update_forward_hooks: HookDict = OrderedDict()

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
        for hook in self._propagate_forward_pre_hooks.values():
            res = hook(self, (edge_index, size, kwargs))
            if res is not None:
                edge_index, size, kwargs = res
        sizes, edge_index, kwargs, adj_t = self._check_input(edge_index, size, kwargs)
        if adj_t is not None and self._fuse and isinstance(self.aggr, str):
            data = self._collect(self._update_params, edge_index, sizes, kwargs)
            data["adj_t"] = adj_t
            fused = _params(self.message_and_aggregate, skip_first=True)
            fused_kwargs = self._select(fused, data, "message_and_aggregate")
            for hook in self._message_and_aggregate_forward_pre_hooks.values():
                res = hook(self, (adj_t, fused_kwargs))
                if res is not None:
                    adj_t, fused_kwargs = res
            out = self.message_and_aggregate(adj_t, **fused_kwargs)
            out = _run_hooks(
                self, self._message_and_aggregate_forward_hooks, (adj_t, fused_kwargs), out
            )
            out = self.update(out, **self._select(self._update_params, data, "update"))
            return _run_hooks(self, self._propagate_forward_hooks, (edge_index, sizes, kwargs), out)
        params = self._message_params + self._aggregate_params + self._update_params
        data = self._collect(params, edge_index, sizes, kwargs)
        data["adj_t"] = adj_t
        msg_kwargs = _run_pre_hooks(
            self,
            self._message_forward_pre_hooks,
            self._select(self._message_params, data, "message"),
        )
        out = self.message(**msg_kwargs)
        out = _run_hooks(self, self._message_forward_hooks, (msg_kwargs,), out)
        aggr_kwargs = _run_pre_hooks(
            self,
            self._aggregate_forward_pre_hooks,
            self._select(self._aggregate_params, data, "aggregate"),
        )
        out = self.aggregate(out, **aggr_kwargs)
        out = _run_hooks(self, self._aggregate_forward_hooks, (aggr_kwargs,), out)
        out = self.update(out, **self._select(self._update_params, data, "update"))
        return _run_hooks(self, self._propagate_forward_hooks, (edge_index, sizes, kwargs), out)

    def edge_updater(
        self, edge_index: Tensor, size: tuple[int | None, int | None] | None = None, **kwargs: Any
    ) -> Tensor:
        """Computes :meth:`edge_update` for every edge, with the same argument collection
        as :meth:`propagate`."""
        for hook in self._edge_update_forward_pre_hooks.values():
            res = hook(self, (edge_index, size, kwargs))
            if res is not None:
                edge_index, size, kwargs = res
        sizes, edge_index_, kwargs_, _ = self._check_input(edge_index, size, kwargs)
        data = self._collect(self._edge_update_params, edge_index_, sizes, kwargs_)
        out = self.edge_update(**self._select(self._edge_update_params, data, "edge_update"))
        return _run_hooks(self, self._edge_update_forward_hooks, (edge_index, size, kwargs), out)

    def _plain_edge_update(self, owner: type) -> bool:
        """Whether :meth:`edge_update` is ``owner``'s own and no edge-update hook is
        registered: the layer may then compute the same edge updates another way (a fused
        operator in an export)."""
        hooked = self._edge_update_forward_pre_hooks or self._edge_update_forward_hooks
        return type(self).edge_update is owner.edge_update and not hooked  # type: ignore[attr-defined]

    def _source_target(self, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        """``(j, i)``: the index of each edge's source (``x_j``) and target (``x_i``) under
        :attr:`flow`."""
        j, i = (0, 1) if self.flow == "source_to_target" else (1, 0)
        return edge_index[j], edge_index[i]

    def register_propagate_forward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Registers ``hook(module, (edge_index, size, kwargs))``, called before
        :meth:`propagate`; it may return the modified ``(edge_index, size, kwargs)``."""
        return _register(self._propagate_forward_pre_hooks, hook)

    def register_propagate_forward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Registers ``hook(module, (edge_index, size, kwargs), output)``, called after
        :meth:`propagate`; it may return a modified output."""
        return _register(self._propagate_forward_hooks, hook)

    def register_message_forward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Registers ``hook(module, (message_kwargs,))``, called before :meth:`message`; it
        may return the modified ``(message_kwargs,)``."""
        return _register(self._message_forward_pre_hooks, hook)

    def register_message_forward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Registers ``hook(module, (message_kwargs,), output)``, called after
        :meth:`message`; it may return a modified output."""
        return _register(self._message_forward_hooks, hook)

    def register_aggregate_forward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """As :meth:`register_message_forward_pre_hook`, for :meth:`aggregate`."""
        return _register(self._aggregate_forward_pre_hooks, hook)

    def register_aggregate_forward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """As :meth:`register_message_forward_hook`, for :meth:`aggregate`."""
        return _register(self._aggregate_forward_hooks, hook)

    def register_message_and_aggregate_forward_pre_hook(
        self, hook: Callable[..., Any]
    ) -> RemovableHandle:
        """Registers ``hook(module, (adj_t, kwargs))``, called before
        :meth:`message_and_aggregate` (sparse adjacencies); it may return both modified."""
        return _register(self._message_and_aggregate_forward_pre_hooks, hook)

    def register_message_and_aggregate_forward_hook(
        self, hook: Callable[..., Any]
    ) -> RemovableHandle:
        """Registers ``hook(module, (adj_t, kwargs), output)``, called after
        :meth:`message_and_aggregate`; it may return a modified output."""
        return _register(self._message_and_aggregate_forward_hooks, hook)

    def register_edge_update_forward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """As :meth:`register_propagate_forward_pre_hook`, for :meth:`edge_updater`."""
        return _register(self._edge_update_forward_pre_hooks, hook)

    def register_edge_update_forward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """As :meth:`register_propagate_forward_hook`, for :meth:`edge_updater`."""
        return _register(self._edge_update_forward_hooks, hook)

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
        if self._uses_aggr_module:
            return self.aggr_module(inputs, index, dim_size, self.node_dim)  # type: ignore[no-any-return]
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
                    f"rows (for `{name}`): valid indices are [0, {rows - 1}]"
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
