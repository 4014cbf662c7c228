"""Tagger: one inference API over every backend (onnxruntime, native, triton)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.runtime.backends import BACKENDS, Backend
from e2e_gnn.spec import ModelSpec


class Tagger:
    """Scores graphs with an exported e2e_gnn model.

    The model's session is created once and reused; every batch is validated (dtypes,
    shapes, index ranges, finite features) before it reaches ONNX Runtime.

    Args:
        model_path: an ONNX file written by ``e2e-gnn export-onnx``.
        backend: ``"onnxruntime"`` (Python ONNX Runtime), ``"native"`` (e2e_gnn's C++
            runtime) or ``"triton"`` (a Triton server; see ``e2e_gnn.triton``).
        threads: ONNX Runtime intra-op threads.
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
        self.spec = ModelSpec.from_metadata(self._backend.metadata, source=str(model_path))

    def __call__(self, inputs: GraphBatch | np.ndarray) -> np.ndarray:
        """Scores [G, C]: one row per graph of a GraphBatch (graph models) or per image of
        a float32 [B, C, H, W] array (frame models), in order, in one inference call."""
        if self.spec.is_graph_model:
            if not isinstance(inputs, GraphBatch):
                msg = f"{self.spec.name!r} is a graph model: pass a GraphBatch, not {type(inputs)}"
                raise TypeError(msg)
            inputs.validate(self.spec.num_features)
            feed = inputs.inputs()
        else:
            feed = {"frames": self._checked_frames(inputs)}
        return self._backend.run(feed)[self.spec.outputs[0].name]

    def _checked_frames(self, frames: object) -> np.ndarray:
        expected = self.spec.frame_shape
        if not isinstance(frames, np.ndarray) or frames.dtype != np.float32:
            got = getattr(frames, "dtype", type(frames).__name__)
            msg = f"input 'frames' must be a numpy float32 array [B, C, H, W], got {got}"
            raise TypeError(msg)
        if frames.ndim != 4 or frames.shape[0] == 0 or (expected and frames.shape[1:] != expected):
            msg = (
                f"input 'frames' has shape {list(frames.shape)}, the model expects "
                f"[B >= 1, {', '.join(map(str, expected or ('C', 'H', 'W')))}]"
            )
            raise ValueError(msg)
        bad = np.flatnonzero(~np.isfinite(frames.reshape(len(frames), -1)).all(axis=1))
        if bad.size:
            msg = f"input 'frames' has non-finite values in image {int(bad[0])}"
            raise ValueError(msg)
        return np.ascontiguousarray(frames)

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
        inference call."""
        total = len(inputs)
        if total <= per_call:
            return self(inputs)
        chunks = (range(start, min(start + per_call, total)) for start in range(0, total, per_call))
        if isinstance(inputs, GraphBatch):
            return np.concatenate([self(inputs.select(rows)) for rows in chunks])
        return np.concatenate([self(inputs[rows.start : rows.stop]) for rows in chunks])

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Tagger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
