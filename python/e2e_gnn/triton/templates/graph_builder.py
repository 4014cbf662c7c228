"""Triton python-backend model: raw hits -> GNN input graph (the ensemble's first step).

Copied verbatim into ``<repository>/<name>_graph_builder/<version>/model.py`` by
``e2e_gnn.triton.write_repository``. Inputs ``hits`` float32 [N, H] and ``hits_batch`` int64
[N] (sorted event/graph id per hit, every graph non-empty); outputs ``x`` = the recipe's
feature columns, ``edge_index`` int64 [2, E] (source = neighbour, target = node, the
graph's k nearest neighbours in the coordinate columns, never across graphs) and ``batch``.
Config parameters (written from the model's graph spec): ``features``, ``coordinates``
(JSON lists of hit columns), ``k``, ``loop``.

The graph is built by ``e2e_gnn.graphs.knn_graph`` (the builder training used) when the
server's Python can import it (tritonserver is started with the e2e_gnn source on
PYTHONPATH); otherwise by :func:`knn_graph_numpy` below.
NOTE: :func:`knn_graph_numpy` is the ONE NumPy fallback of the project's kNN for the
server side; it exists until the native ``e2e_gnn.graphs.knn_graph`` imports in the
server's environment, and it must give the same edge set (ties aside).
"""

from __future__ import annotations

import json

import numpy as np

try:  # absent when this file is imported outside tritonserver (tests, local reference)
    import triton_python_backend_utils as pb_utils
except ImportError:
    pb_utils = None


def knn_graph_numpy(pos: np.ndarray, ptr: np.ndarray, k: int, loop: bool) -> np.ndarray:
    """kNN edges within each graph ``ptr[g]:ptr[g+1]``: int64 [2, E] (neighbour, node).

    Each node gets ``min(k, n_graph - (0 if loop else 1))`` incoming edges from its nearest
    nodes by Euclidean distance (ties broken by node order); with ``loop`` the node
    itself counts among its neighbours, as in PyG's ``knn_graph(loop=True)``.
    """
    sources, targets = [], []
    for start, stop in zip(ptr[:-1].tolist(), ptr[1:].tolist()):
        p = pos[start:stop].astype(np.float64)
        n = stop - start
        d2 = ((p[:, None, :] - p[None, :, :]) ** 2).sum(axis=-1)
        if not loop:
            np.fill_diagonal(d2, np.inf)
        kk = min(k, n if loop else n - 1)
        if kk <= 0:
            continue
        nearest = np.argsort(d2, axis=1, kind="stable")[:, :kk]
        sources.append(nearest.reshape(-1) + start)
        targets.append(np.repeat(np.arange(n), kk) + start)
    if not sources:
        return np.zeros((2, 0), dtype=np.int64)
    return np.stack([np.concatenate(sources), np.concatenate(targets)]).astype(np.int64)


def _knn_builder():  # noqa: ANN202 - returns whichever knn function is available
    try:
        from e2e_gnn.graphs import knn_graph
    except ImportError:
        return knn_graph_numpy, "numpy fallback (e2e_gnn.graphs.knn_graph not importable)"

    def native(pos: np.ndarray, ptr: np.ndarray, k: int, loop: bool) -> np.ndarray:
        return np.asarray(knn_graph(pos, ptr, k=k, loop=loop), dtype=np.int64)

    return native, "e2e_gnn.graphs.knn_graph"


def build_graph(
    hits: np.ndarray,
    hits_batch: np.ndarray,
    *,
    features: list[int],
    coordinates: list[int],
    k: int,
    loop: bool,
    knn=knn_graph_numpy,  # noqa: ANN001
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, edge_index, batch)`` for hits of several graphs, as the ensemble computes it."""
    if hits.ndim != 2 or hits_batch.shape != (hits.shape[0],):
        msg = f"hits {hits.shape!r} and hits_batch {hits_batch.shape!r} must be [N, H] and [N]"
        raise ValueError(msg)
    if hits.shape[0] == 0:
        msg = "hits is empty: every graph needs at least one hit"
        raise ValueError(msg)
    if np.any(np.diff(hits_batch) < 0) or hits_batch[0] != 0:
        msg = "hits_batch must be sorted graph ids starting at 0"
        raise ValueError(msg)
    counts = np.bincount(hits_batch)
    if np.any(counts == 0):
        msg = f"graphs {np.flatnonzero(counts == 0).tolist()!r} have no hits"
        raise ValueError(msg)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    x = np.ascontiguousarray(hits[:, features], dtype=np.float32)
    pos = np.ascontiguousarray(hits[:, coordinates], dtype=np.float32)
    edge_index = knn(pos, ptr, k, loop)
    return x, edge_index, hits_batch.astype(np.int64)


class TritonPythonModel:
    """Graph builder of the hits ensemble."""

    def initialize(self, args: dict) -> None:
        """Read the graph recipe from the config parameters."""
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.name = config["name"]
        self.recipe = {
            "features": json.loads(params["features"]),
            "coordinates": json.loads(params["coordinates"]),
            "k": int(params["k"]),
            "loop": params.get("loop", "false") == "true",
        }
        self.knn, source = _knn_builder()
        self.outputs = [o["name"] for o in config["output"]]
        pb_utils.Logger.log_info(f"{self.name}: kNN from {source}")

    def execute(self, requests: list) -> list:
        """Build one graph batch per request."""
        responses = []
        for request in requests:
            try:
                hits = pb_utils.get_input_tensor_by_name(request, "hits").as_numpy()
                hits_batch = pb_utils.get_input_tensor_by_name(request, "hits_batch").as_numpy()
                arrays = build_graph(hits, hits_batch, knn=self.knn, **self.recipe)
                tensors = [pb_utils.Tensor(n, a) for n, a in zip(self.outputs, arrays)]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as err:  # noqa: BLE001 - reported to the client
                message = f"model {self.name!r}: {type(err).__name__}: {err}"
                responses.append(
                    pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message))
                )
        return responses
