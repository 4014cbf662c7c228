"""Graph and hit generators shared by the Triton tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from e2e_gnn.graphs.batch import GraphBatch

N_FEATURES = 4
Graph = tuple[np.ndarray, np.ndarray]


def random_graph(rng: np.random.Generator, n_nodes: int, n_edges: int) -> Graph:
    """One graph: ``x`` [n, F] float32 and ``edge_index`` [2, E] int64."""
    x = rng.standard_normal((n_nodes, N_FEATURES)).astype(np.float32)
    edge_index = rng.integers(0, n_nodes, size=(2, n_edges), dtype=np.int64)
    return x, edge_index


def packed(graphs: list[Graph]) -> dict[str, np.ndarray]:
    """The model inputs of ``graphs`` in one ragged batch."""
    return GraphBatch.from_graphs(graphs).inputs()


def mixed_graphs(rng: np.random.Generator, count: int) -> list[Graph]:
    """Graphs of 1..40 nodes; every third one has no edge."""
    graphs = []
    for i in range(count):
        n = int(rng.integers(1, 40))
        e = 0 if i % 3 == 0 else int(rng.integers(1, 4 * n))
        graphs.append(random_graph(rng, n, e))
    return graphs


def reference(local, graphs: list[Graph]) -> np.ndarray:
    """Scores of each graph alone through local onnxruntime, stacked [G, C]."""
    return np.concatenate([local.run(packed([g]))["scores"] for g in graphs])


TEMPLATES = Path(__file__).parents[2] / "python/e2e_gnn/triton/templates"


def _template(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"e2e_gnn_template_{name}", TEMPLATES / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def graph_builder_module() -> ModuleType:
    """The python-backend graph builder, imported as a plain module (no server)."""
    return _template("graph_builder.py")


def onnx_model_module() -> ModuleType:
    """The python-backend onnxruntime model, imported with a stand-in for the server's
    ``triton_python_backend_utils`` (only its functions are called, no model is run)."""
    stand_in = ModuleType("triton_python_backend_utils")
    previous = sys.modules.setdefault("triton_python_backend_utils", stand_in)
    try:
        return _template("onnx_model.py")
    finally:
        if previous is stand_in:
            del sys.modules["triton_python_backend_utils"]
