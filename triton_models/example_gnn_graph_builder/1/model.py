"""Triton python-backend model: raw hits -> GNN input graph (the ensemble's first step).

Copied verbatim into ``<repository>/<name>_graph_builder/<version>/model.py`` by
``e2e_gnn.triton.write_repository``. Inputs ``hits`` float32 [N, F] (node features in the
model's ``feature_names`` order) and ``hits_batch`` int64 [N] (sorted graph id per hit,
every graph non-empty); outputs ``x`` (= hits), ``edge_index`` int64 [2, E] and ``batch``,
built by ``e2e_gnn.graphs.from_frames.graphs_from_spec``: the one spec -> graph path that
training and every runtime use. Node i is hit i (the order is kept), so per-node outputs of
the GNN line up with the hits the client sent; graph features ``u`` go to the GNN directly
(the ensemble's input), not through this model. Config parameter ``graph_spec``: the model's
``GraphSpec`` as JSON (written from the model file).

It needs e2e_gnn and its compiled module in the server's Python. The python backend's
embedded interpreter ignores PYTHONPATH, so the e2e_gnn source directory comes from
``$E2E_GNN_PYTHONPATH`` and the folder of ``_native*.so`` from ``$E2E_GNN_NATIVE_DIR``
(``e2e_gnn.triton.TritonServer`` sets both); in another server, set them too or
pip-install e2e_gnn into the backend's environment.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

try:  # absent when this file is imported outside tritonserver (tests)
    import triton_python_backend_utils as pb_utils
except ImportError:
    pb_utils = None

if TYPE_CHECKING:
    from e2e_gnn.spec import GraphSpec


def import_e2e_gnn() -> str:
    """Make e2e_gnn importable here and load its native module; returns the module's file."""
    for entry in reversed(os.environ.get("E2E_GNN_PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        from e2e_gnn._native_loader import load_native

        native = load_native()
    except (ImportError, OSError) as err:
        msg = (
            "the graph builder needs e2e_gnn and its compiled module in tritonserver's "
            "Python: set E2E_GNN_PYTHONPATH=<e2e_gnn checkout>/python and E2E_GNN_NATIVE_DIR="
            "<folder of _native*.so> for the server (e2e-gnn serve does) or pip install "
            f"e2e_gnn into the python backend's environment ({type(err).__name__}: {err})"
        )
        raise ImportError(msg) from err
    return str(native.__file__)


def build_graph(
    hits: np.ndarray, hits_batch: np.ndarray, spec: GraphSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, edge_index, batch)`` of the graphs whose hits are ``hits``, as ``spec`` says."""
    from e2e_gnn.graphs.batch import GraphBatch
    from e2e_gnn.graphs.from_frames import graphs_from_spec

    if hits.ndim != 2 or hits.shape[0] == 0 or hits_batch.ndim != 1 or hits_batch.size == 0:
        msg = (
            f"hits {hits.shape!r} and hits_batch {hits_batch.shape!r} must be [N >= 1, F] and "
            "[N]: every graph needs at least one hit"
        )
        raise ValueError(msg)
    no_edges = np.empty((2, 0), dtype=np.int64)
    hit_graphs = GraphBatch(hits, no_edges, hits_batch, int(hits_batch[-1]) + 1)
    hit_graphs.validate(len(spec.feature_names))  # sorted ids from 0, none empty, finite hits
    graphs = graphs_from_spec(hits, hit_graphs.node_ptr, spec)
    return graphs.x, graphs.edge_index, graphs.batch


class TritonPythonModel:
    """Graph builder of the hits ensemble."""

    def initialize(self, args: dict[str, Any]) -> None:
        """Read the graph spec from the config parameters and load e2e_gnn."""
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.name = config["name"]
        native = import_e2e_gnn()
        from e2e_gnn.spec import GraphSpec

        self.spec = GraphSpec.from_dict(json.loads(params["graph_spec"]))
        self.outputs = [o["name"] for o in config["output"]]
        pb_utils.Logger.log_info(f"{self.name}: graphs from e2e_gnn graphs_from_spec ({native})")

    def execute(self, requests: list[Any]) -> list[Any]:
        """Build one graph batch per request."""
        responses = []
        for request in requests:
            try:
                hits = pb_utils.get_input_tensor_by_name(request, "hits").as_numpy()
                hits_batch = pb_utils.get_input_tensor_by_name(request, "hits_batch").as_numpy()
                arrays = build_graph(hits, hits_batch, self.spec)
                tensors = [pb_utils.Tensor(n, a) for n, a in zip(self.outputs, arrays, strict=True)]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as err:
                message = f"model {self.name!r}: {type(err).__name__}: {err}"
                error = pb_utils.TritonError(message)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
        return responses
