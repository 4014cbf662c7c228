"""Triton python-backend model: runs ``model.onnx`` (next to this file) with onnxruntime.

Copied verbatim into ``<repository>/<name>_python/<version>/model.py`` by
``e2e_gnn.triton.write_repository``. It runs inside tritonserver's python backend, so it
imports only numpy, onnxruntime and ``triton_python_backend_utils`` (the server's Python
environment needs numpy<2 and onnxruntime; see scripts/install_triton.sh).
Every output of the model is served (per-graph [G, C] and per-node [N, C] alike); graph
features ``u`` (the 4th input of models whose spec names them) must have one row per graph
of ``batch``. Config parameters: ``intra_op_threads``, ``inter_op_threads`` and
``thread_safe``, written from the model's spec: a model that is not thread-safe (its
aggregations lose updates on more than one ONNX Runtime intra-op thread) runs on one
thread, with a warning in the log. A model exported with fused operators (domain
``ai.e2e_gnn``) also needs e2e_gnn in the server's Python, found as the graph builder finds it
(``$E2E_GNN_PYTHONPATH``, ``$E2E_GNN_NATIVE_DIR``), for its custom operator library.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


def intra_op_threads(params: dict[str, str], name: str, logger: Any) -> int:
    """The configured intra-op threads, or 1 (logged) for a model that is not thread-safe."""
    threads = int(params.get("intra_op_threads", "1"))
    if threads != 1 and params.get("thread_safe") != "true":
        logger.log_warn(
            f"{name}: the model is not thread-safe (its spec says thread_safe false: ONNX "
            f"Runtime loses aggregation updates on more than one intra-op thread), running it "
            f"on 1 intra-op thread, not {threads}"
        )
        return 1
    return threads


def register_custom_ops(options: ort.SessionOptions) -> None:
    """Add e2e_gnn's custom operators to ``options`` when e2e_gnn is importable (plain ONNX
    models need only onnxruntime; one with ``ai.e2e_gnn`` nodes then fails to load, naming
    the operator)."""
    for entry in reversed(os.environ.get("E2E_GNN_PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        from e2e_gnn import custom_ops
    except ImportError:
        return
    custom_ops.register(options)


def check_graph_features(feeds: dict[str, np.ndarray]) -> None:
    """Graph features ``u`` need one row per graph of ``batch`` (sorted graph ids): a row
    too many would come back as a graph output row of no graph."""
    if "u" not in feeds or "batch" not in feeds:
        return
    u, batch = feeds["u"], feeds["batch"]
    graphs = int(batch[-1]) + 1 if batch.ndim == 1 and batch.size else 0
    if u.ndim != 2 or len(u) != graphs:
        msg = (
            f"input 'u' has shape {list(u.shape)!r}; expected one row per graph of 'batch' "
            f"({graphs} graphs)"
        )
        raise ValueError(msg)


class TritonPythonModel:
    """One onnxruntime session per model instance, created once and reused."""

    def initialize(self, args: dict[str, Any]) -> None:
        """Create the session; ``args`` is what the python backend passes."""
        config = json.loads(args["model_config"])
        self.name = config["name"]
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        path = Path(__file__).with_name("model.onnx")
        options = ort.SessionOptions()
        register_custom_ops(options)
        options.intra_op_num_threads = intra_op_threads(params, self.name, pb_utils.Logger)
        options.inter_op_num_threads = int(params.get("inter_op_threads", "1"))
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [i["name"] for i in config["input"]]
        self.outputs = [o["name"] for o in config["output"]]

    def execute(self, requests: list[Any]) -> list[Any]:
        """One response per request; a failing request gets an error, the others still run."""
        responses = []
        for request in requests:
            try:
                feeds = {
                    name: np.ascontiguousarray(
                        pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                    )
                    for name in self.inputs
                }
                check_graph_features(feeds)
                results = self.session.run(self.outputs, feeds)
                tensors = [
                    pb_utils.Tensor(n, r) for n, r in zip(self.outputs, results, strict=True)
                ]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as err:
                message = f"model {self.name!r}: {type(err).__name__}: {err}"
                responses.append(
                    pb_utils.InferenceResponse(
                        output_tensors=[], error=pb_utils.TritonError(message)
                    )
                )
        return responses

    def finalize(self) -> None:
        """Release the session."""
        self.session = None
