"""Tagger: one inference API over every backend (onnxruntime, native, triton)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from e2e_gnn._native_loader import load_native
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.ragged import Ragged
from e2e_gnn.runtime.backends import BACKENDS, Backend, NativeBackend, OnnxRuntimeBackend
from e2e_gnn.spec import GRAPH_OUTPUTS, ModelSpec, TensorSpec, graph_inputs

Output = np.ndarray | Ragged


class Tagger:
    """Scores graphs with an exported e2e_gnn model.

    The model's session is created once and reused; every batch is validated (dtypes,
    shapes, index ranges, finite features, the graph features ``u`` of models that take
    them, the fixed-degree layout of models that need it) before it reaches ONNX Runtime,
    by the C++ checks of the C++ Tagger, whatever the backend.

    A model's outputs are per graph (or image), returned as an ndarray [G, C], or per node
    (:attr:`e2e_gnn.spec.TensorSpec.per_node`), returned as a :class:`~e2e_gnn.ragged.Ragged`
    split per graph without padding. Calling the tagger returns the primary output (the
    spec's first); :meth:`outputs` returns every one by name.

    Args:
        model_path: an ONNX file written by ``e2e-gnn export-onnx``.
        backend: ``"onnxruntime"`` (Python ONNX Runtime), ``"native"`` (e2e_gnn's C++
            runtime) or ``"triton"`` (a Triton server; see ``e2e_gnn.triton``).
        threads: ONNX Runtime intra-op threads, >= 1 or 0 (all cores); honoured for models
            whose spec says ``thread_safe``, others run on 1 thread with a RuntimeWarning.
        device: ``"cpu"`` or ``"cuda"`` (falls back to the CPU with a warning).
        **options: backend-specific options (e.g. ``url`` for Triton).

    Example:
        >>> tagger = Tagger("model.onnx", backend="native")
        >>> scores = tagger(GraphBatch.from_graphs([(x0, edges0), (x1, edges1)]))
        >>> per_node = tagger.outputs(graphs)["energy"]  # Ragged: per_node[g] is [n_g, C]
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        backend: str = "onnxruntime",
        threads: int = 1,
        device: str = "cpu",
        **options: Any,
    ) -> None:
        if backend not in BACKENDS:
            msg = f"unknown backend {backend!r}; choose one of {sorted(BACKENDS)}"
            raise ValueError(msg)
        self.model_path = Path(model_path)
        self.backend_name = backend
        self._backend: Backend = BACKENDS[backend](
            model_path, threads=threads, device=device, **options
        )
        self.spec = ModelSpec.from_metadata(
            self._backend.metadata, source=f"model {str(model_path)!r}"
        )
        if isinstance(self._backend, OnnxRuntimeBackend):  # the C++ Tagger checks its own
            _check_model_inputs(self.spec, self._backend.model_inputs, f"model {str(model_path)!r}")
        # the C++ Tagger's rule: the spec's outputs, one per-graph "scores" when it lists none
        self._outputs: tuple[TensorSpec, ...] = self.spec.outputs or GRAPH_OUTPUTS
        # the C++ Tagger's run starts with GraphBatch.validate's C++ checks (same model
        # widths), then checks the fixed-degree layout: on a batch run in one call, those
        # are left to it (a batch cut into calls is checked whole, here, first)
        self._backend_checks_graphs = isinstance(self._backend, NativeBackend)

    def __call__(self, inputs: GraphBatch | np.ndarray) -> Output:
        """The primary output (the spec's first) of a GraphBatch (graph models) or of a
        float32 [B, C, H, W] array (frame models), in one inference call: [G, C], one row
        per graph or image in order, or a Ragged of one [n_g, C] array per graph for a
        per-node output."""
        return self.outputs(inputs)[self._outputs[0].name]

    def outputs(
        self, inputs: GraphBatch | np.ndarray, per_call: int | None = None
    ) -> dict[str, Output]:
        """Every output of the model by name (see :meth:`__call__`), in one inference call,
        or ``per_call`` graphs or images per call (the whole batch is checked once, before
        it is cut into calls)."""
        if per_call is not None:
            _check_per_call(per_call)
        feed = self._checked(inputs, per_call)
        total = len(inputs)
        if per_call is None or total <= per_call:
            return self._split(self._run(feed), inputs)
        chunks = [range(start, min(start + per_call, total)) for start in range(0, total, per_call)]
        if isinstance(inputs, GraphBatch):
            parts = [self._split(self._run(c.inputs()), c) for c in map(inputs.select, chunks)]
        else:
            frames = feed["frames"]
            parts = [
                self._split(
                    self._run({"frames": frames[r.start : r.stop]}), frames[r.start : r.stop]
                )
                for r in chunks
            ]
        return {
            tensor.name: _concatenate([part[tensor.name] for part in parts])
            for tensor in self._outputs
        }

    def _checked(
        self, inputs: GraphBatch | np.ndarray, per_call: int | None
    ) -> dict[str, np.ndarray]:
        """The model inputs of ``inputs``, checked by the C++ checks of every backend (the
        C++ Tagger's own): O(N + E), allocating nothing by the values it reads."""
        native = load_native()
        graph = self.spec.graph
        if graph is not None:
            if not isinstance(inputs, GraphBatch):
                msg = f"{self.spec.name!r} is a graph model: pass a GraphBatch, not {type(inputs)}"
                raise TypeError(msg)
            one_call = per_call is None or inputs.num_graphs <= per_call
            checked_next = one_call and self._backend_checks_graphs
            feed = inputs._checked_inputs(
                self.spec.num_features, self.spec.num_graph_features, checked_next
            )
            if graph.fixed_degree and not checked_next:
                k = -1 if graph.k is None else graph.k
                native.check_fixed_degree(feed["edge_index"], feed["batch"], k, graph.loop)
            return feed
        if not isinstance(inputs, np.ndarray) or inputs.dtype != np.float32:
            got = getattr(inputs, "dtype", type(inputs).__name__)
            msg = f"input 'frames' must be a numpy float32 array [B, C, H, W], got {got}"
            raise TypeError(msg)
        frames = np.ascontiguousarray(inputs)
        native.check_frames(frames, list(self.spec.frame_shape or ()))
        return {"frames": frames}

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The backend's flat outputs (per-node outputs [N, C]) of the spec's outputs."""
        outputs = self._backend.run(feed)
        for tensor in self._outputs:
            if tensor.name not in outputs:
                msg = (
                    f"model {str(self.model_path)!r} has no output {tensor.name!r} named by "
                    f"its spec (its outputs: {sorted(outputs)})"
                )
                raise ValueError(msg)
        return outputs

    def _split(
        self, flat: dict[str, np.ndarray], inputs: GraphBatch | np.ndarray
    ) -> dict[str, Output]:
        """Per-node outputs split per graph of ``inputs`` by the spec's level, never by
        comparing lengths (one-node graphs have as many nodes as graphs)."""
        split: dict[str, Output] = {}
        for tensor in self._outputs:
            values = flat[tensor.name]
            if tensor.per_node and isinstance(inputs, GraphBatch):
                split[tensor.name] = Ragged.from_batch(values, inputs)
                continue
            if len(values) != len(inputs):
                msg = (
                    f"model {str(self.model_path)!r} returned {len(values)} rows of output "
                    f"{tensor.name!r} for {len(inputs)} graphs or images"
                )
                raise ValueError(msg)
            split[tensor.name] = values
        return split

    def tag_nodes(self, x: np.ndarray, ptr: np.ndarray, u: np.ndarray | None = None) -> Output:
        """The primary output of graphs given as raw node features ``x`` [N, F] (graph g:
        rows ``ptr[g]:ptr[g + 1]``) and, for a model with graph features, ``u`` [G, F_u]:
        edges are built by the native builder exactly as the model's graph spec says (k,
        self loops, coordinates, scale), then ONE call."""
        if self.spec.graph is None:
            msg = f"{self.spec.name!r} has no graph spec: tag_nodes needs a graph model"
            raise ValueError(msg)
        return self(graphs_from_spec(x, ptr, self.spec.graph, u=u))

    def tag(
        self, graphs: Iterable[tuple[np.ndarray, np.ndarray]], u: np.ndarray | None = None
    ) -> Output:
        """The primary output of many ``(x, edge_index)`` graphs (and their graph features
        ``u``) in ONE inference call (ragged batch)."""
        return self(GraphBatch.from_graphs(graphs, u=u))

    def score(self, inputs: GraphBatch | np.ndarray, per_call: int = 1024) -> Output:
        """The primary output of a large GraphBatch or frames array, ``per_call`` graphs or
        images per inference call (see :meth:`outputs`)."""
        _check_per_call(per_call)
        return self.outputs(inputs, per_call)[self._outputs[0].name]

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Tagger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_per_call(per_call: object) -> None:
    if isinstance(per_call, bool) or not isinstance(per_call, int) or per_call < 1:
        msg = f"per_call must be an integer >= 1, got {per_call!r}"
        raise ValueError(msg)


def _concatenate(parts: list[Output]) -> Output:
    if isinstance(parts[0], Ragged):
        return Ragged.concatenate(parts)  # type: ignore[arg-type]
    return np.concatenate(parts)  # type: ignore[arg-type]


def _check_model_inputs(spec: ModelSpec, inputs: tuple[TensorSpec, ...], source: str) -> None:
    """The C++ Tagger's check of a model's inputs against its spec (``Tagger::Tagger``): a
    graph model takes exactly x [N, F], edge_index, batch, and u [G, F_u] when its graph
    spec names graph features; any other model one float32 ``frames`` [B, C, H, W]."""
    names = [t.name for t in inputs]
    if spec.graph is not None:
        wanted = [t.name for t in graph_inputs(spec.graph)]
        takes = ", ".join(wanted)
        for name in wanted:
            if name not in names:
                msg = f"{source} has no input {name!r}: the model's spec says it takes {takes}"
                raise ValueError(msg)
        if len(names) != len(wanted):
            msg = f"{source} has {len(names)} inputs; the Tagger feeds exactly {takes}"
            raise ValueError(msg)
        for name, width, what in (
            ("x", spec.num_features, "features per node"),
            ("u", spec.num_graph_features, "graph features"),
        ):
            if name not in names:
                continue
            shape = inputs[names.index(name)].shape
            if len(shape) == 2 and isinstance(shape[1], int) and shape[1] != width:
                msg = f"{source} takes {shape[1]} {what} but its spec names {width}"
                raise ValueError(msg)
    elif names != ["frames"] or inputs[0].dtype != "float32" or len(inputs[0].shape) not in (4, 5):
        msg = (
            f"{source} has neither a graph spec nor one float32 input 'frames' [B, C, H, W] "
            f"or [B, C, L, H, W] (its inputs: {', '.join(names)})"
        )
        raise ValueError(msg)
