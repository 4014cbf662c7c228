"""Triton python-backend model: raw hits -> GNN input graph (the ensemble's first step).

Copied verbatim into ``<repository>/<name>_graph_builder/<version>/model.py`` by
``e2e_gnn.triton.write_repository``. Inputs ``hits`` float32 [N, F] (node features in the
model's ``feature_names`` order) and ``hits_batch`` int64 [N] (sorted graph id per hit, every
graph non-empty); outputs ``x`` (= hits), ``edge_index`` int64 [2, E] and ``batch``, built
exactly like training builds them (``e2e_gnn.graphs.synthetic.graphs_from_features``):
positions = ``hits[:, coordinates] * coordinate_scale`` in float32, then kNN per graph.
Config parameters (written from the model's graph spec): ``coordinates`` (JSON list of hit
columns), ``coordinate_scale`` (JSON list), ``k``, ``loop``.

The kNN is e2e_gnn's own: the native ``e2e_gnn.graphs.builders.knn_graph`` when the
server's Python can load e2e_gnn's compiled module, else e2e_gnn's NumPy reference
``e2e_gnn.graphs.reference.knn_reference`` (identical edges, ties included; quadratic per
graph). The python backend's embedded interpreter ignores PYTHONPATH, so the e2e_gnn
source directory comes from ``$E2E_GNN_PYTHONPATH`` (``e2e_gnn.triton.TritonServer`` sets
it); in another server, set it too or pip-install e2e_gnn into the backend's environment.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

try:  # absent when this file is imported outside tritonserver (tests)
    import triton_python_backend_utils as pb_utils
except ImportError:
    pb_utils = None

Knn = Callable[..., np.ndarray]


def load_knn() -> tuple[Knn, str]:
    """e2e_gnn's kNN: native when its compiled module loads here, else its NumPy reference."""
    for entry in reversed(os.environ.get("E2E_GNN_PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        from e2e_gnn._native_loader import load_native
        from e2e_gnn.graphs.builders import knn_graph

        load_native()
    except ImportError as native_error:
        try:
            from e2e_gnn.graphs.reference import knn_reference
        except ImportError as err:
            msg = (
                "the graph builder needs the e2e_gnn package in tritonserver's Python: set "
                "E2E_GNN_PYTHONPATH=<e2e_gnn checkout>/python for the server (e2e-gnn serve "
                "does) or pip install e2e_gnn into the python backend's environment"
            )
            raise ImportError(msg) from err
        return knn_reference, f"e2e_gnn NumPy reference (native not loadable: {native_error})"
    return knn_graph, "e2e_gnn native knn_graph"


def build_graph(
    hits: np.ndarray,
    hits_batch: np.ndarray,
    *,
    coordinates: list[int],
    coordinate_scale: list[float],
    k: int,
    loop: bool,
    knn: Knn,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, edge_index, batch)`` for the hits of several graphs."""
    if hits.ndim != 2 or hits_batch.shape != (hits.shape[0],):
        msg = f"hits {hits.shape!r} and hits_batch {hits_batch.shape!r} must be [N, F] and [N]"
        raise ValueError(msg)
    if hits.shape[0] == 0:
        msg = "hits is empty: every graph needs at least one hit"
        raise ValueError(msg)
    if np.any(np.diff(hits_batch) < 0) or hits_batch[0] != 0:
        msg = f"hits_batch must be sorted graph ids starting at 0, got {hits_batch[:8]!r}..."
        raise ValueError(msg)
    counts = np.bincount(hits_batch)
    if np.any(counts == 0):
        msg = f"graphs {np.flatnonzero(counts == 0).tolist()!r} have no hits"
        raise ValueError(msg)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    x = np.ascontiguousarray(hits, dtype=np.float32)
    scale = np.asarray(coordinate_scale, dtype=np.float32)
    pos = np.ascontiguousarray(x[:, coordinates] * scale, dtype=np.float32)
    edge_index = np.asarray(knn(pos, ptr, k, loop=loop), dtype=np.int64)
    return x, edge_index, hits_batch.astype(np.int64)


class TritonPythonModel:
    """Graph builder of the hits ensemble."""

    def initialize(self, args: dict[str, Any]) -> None:
        """Read the graph recipe from the config parameters and pick the kNN."""
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.name = config["name"]
        self.recipe = {
            "coordinates": json.loads(params["coordinates"]),
            "coordinate_scale": json.loads(params["coordinate_scale"]),
            "k": int(params["k"]),
            "loop": params.get("loop", "false") == "true",
        }
        self.knn, source = load_knn()
        self.outputs = [o["name"] for o in config["output"]]
        pb_utils.Logger.log_info(f"{self.name}: kNN from {source}")

    def execute(self, requests: list[Any]) -> list[Any]:
        """Build one graph batch per request."""
        responses = []
        for request in requests:
            try:
                hits = pb_utils.get_input_tensor_by_name(request, "hits").as_numpy()
                hits_batch = pb_utils.get_input_tensor_by_name(request, "hits_batch").as_numpy()
                arrays = build_graph(hits, hits_batch, knn=self.knn, **self.recipe)
                tensors = [pb_utils.Tensor(n, a) for n, a in zip(self.outputs, arrays, strict=True)]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as err:
                message = f"model {self.name!r}: {type(err).__name__}: {err}"
                error = pb_utils.TritonError(message)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
        return responses
