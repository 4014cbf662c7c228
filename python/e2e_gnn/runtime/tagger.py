"""Tagger: one inference API over every backend (onnxruntime, native, triton)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from e2e_gnn._native_loader import load_native
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.runtime.backends import BACKENDS, Backend, OnnxRuntimeBackend
from e2e_gnn.spec import ModelSpec, TensorSpec


class Tagger:
    """Scores graphs with an exported e2e_gnn model.

    The model's session is created once and reused; every batch is validated (dtypes,
    shapes, index ranges, finite features, the fixed-degree layout of models that need it)
    before it reaches ONNX Runtime, by the C++ checks of the C++ Tagger, whatever the backend.

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

    def __call__(self, inputs: GraphBatch | np.ndarray) -> np.ndarray:
        """Scores [G, C]: one row per graph of a GraphBatch (graph models) or per image of
        a float32 [B, C, H, W] array (frame models), in order, in one inference call."""
        return self._run(self._checked(inputs))

    def _checked(self, inputs: GraphBatch | np.ndarray) -> dict[str, np.ndarray]:
        """The model inputs of ``inputs``, checked by the C++ checks of every backend (the
        C++ Tagger's own): O(N + E), allocating nothing by the values it reads."""
        native = load_native()
        if self.spec.is_graph_model:
            if not isinstance(inputs, GraphBatch):
                msg = f"{self.spec.name!r} is a graph model: pass a GraphBatch, not {type(inputs)}"
                raise TypeError(msg)
            inputs.validate(self.spec.num_features)
            feed = inputs.inputs()
            graph = self.spec.graph
            if graph is not None and graph.fixed_degree:
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

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        # the C++ Tagger's rule: the spec's first output, "scores" when it lists none
        name = self.spec.outputs[0].name if self.spec.outputs else "scores"
        outputs = self._backend.run(feed)
        if name not in outputs:
            msg = (
                f"model {str(self.model_path)!r} has no output {name!r} named by its spec "
                f"(its outputs: {sorted(outputs)})"
            )
            raise ValueError(msg)
        return outputs[name]

    def tag_nodes(self, x: np.ndarray, ptr: np.ndarray) -> np.ndarray:
        """Scores of graphs given as raw node features ``x`` [N, F] (graph g: rows
        ``ptr[g]:ptr[g + 1]``): edges are built by the native builder exactly as the
        model's graph spec says (k, self loops, coordinates, scale), then ONE call."""
        if self.spec.graph is None:
            msg = f"{self.spec.name!r} has no graph spec: tag_nodes needs a graph model"
            raise ValueError(msg)
        return self(graphs_from_spec(x, ptr, self.spec.graph))

    def tag(self, graphs: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Score many ``(x, edge_index)`` graphs in ONE inference call (ragged batch)."""
        return self(GraphBatch.from_graphs(graphs))

    def score(self, inputs: GraphBatch | np.ndarray, per_call: int = 1024) -> np.ndarray:
        """Scores of a large GraphBatch or frames array, ``per_call`` graphs or images per
        inference call. The whole batch is checked once, before it is cut into calls."""
        if isinstance(per_call, bool) or not isinstance(per_call, int) or per_call < 1:
            msg = f"per_call must be an integer >= 1, got {per_call!r}"
            raise ValueError(msg)
        feed = self._checked(inputs)
        total = len(inputs)
        if total <= per_call:
            return self._run(feed)
        chunks = (range(start, min(start + per_call, total)) for start in range(0, total, per_call))
        if isinstance(inputs, GraphBatch):
            return np.concatenate([self._run(inputs.select(rows).inputs()) for rows in chunks])
        frames = feed["frames"]
        return np.concatenate([self._run({"frames": frames[r.start : r.stop]}) for r in chunks])

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Tagger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_model_inputs(spec: ModelSpec, inputs: tuple[TensorSpec, ...], source: str) -> None:
    """The C++ Tagger's check of a model's inputs against its spec (``Tagger::Tagger``): a
    graph model takes exactly x [N, F], edge_index, batch; any other model one float32
    ``frames`` [B, C, H, W]."""
    names = [t.name for t in inputs]
    if spec.graph is not None:
        for name in ("x", "edge_index", "batch"):
            if name not in names:
                msg = f"{source} has no input {name!r}: a graph model takes x, edge_index, batch"
                raise ValueError(msg)
        if len(names) != 3:
            msg = f"{source} has {len(names)} inputs; the Tagger feeds exactly x, edge_index, batch"
            raise ValueError(msg)
        shape = inputs[names.index("x")].shape
        if len(shape) == 2 and isinstance(shape[1], int) and shape[1] != spec.num_features:
            msg = (
                f"{source} takes {shape[1]} features per node but its spec names "
                f"{spec.num_features}"
            )
            raise ValueError(msg)
    elif names != ["frames"] or inputs[0].dtype != "float32" or len(inputs[0].shape) not in (4, 5):
        msg = (
            f"{source} has neither a graph spec nor one float32 input 'frames' [B, C, H, W] "
            f"or [B, C, L, H, W] (its inputs: {', '.join(names)})"
        )
        raise ValueError(msg)
