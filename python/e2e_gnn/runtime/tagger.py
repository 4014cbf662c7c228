"""Tagger: one inference API over every backend (onnxruntime, native, triton)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.runtime.backends import BACKENDS, Backend
from e2e_gnn.spec import GRAPH_INPUTS, ModelSpec


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
        if self.spec.inputs != GRAPH_INPUTS:
            names = [t.name for t in self.spec.inputs]
            msg = f"{str(model_path)!r} is not a graph model (inputs {names}); Tagger scores graphs"
            raise ValueError(msg)

    def __call__(self, graphs: GraphBatch) -> np.ndarray:
        """Scores [G, C] for the graphs of ``graphs``, in order."""
        graphs.validate(self.spec.num_features)
        return self._backend.run(graphs.inputs())["scores"]

    def tag(self, graphs: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Score many ``(x, edge_index)`` graphs in ONE inference call (ragged batch)."""
        return self(GraphBatch.from_graphs(graphs))

    def score(self, graphs: GraphBatch, graphs_per_call: int = 1024) -> np.ndarray:
        """Scores of a large batch, ``graphs_per_call`` graphs per inference call."""
        if graphs.num_graphs <= graphs_per_call:
            return self(graphs)
        return np.concatenate(
            [
                self(graphs.select(range(start, min(start + graphs_per_call, graphs.num_graphs))))
                for start in range(0, graphs.num_graphs, graphs_per_call)
            ]
        )

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Tagger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
