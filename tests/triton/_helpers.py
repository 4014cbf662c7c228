"""Graph and hit generators shared by the Triton tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from e2e_gnn.runtime.triton_backend import pack_graphs

N_FEATURES = 4


def random_graph(rng: np.random.Generator, n_nodes: int, n_edges: int) -> dict[str, np.ndarray]:
    """One graph: ``x`` [n, F] float32 and ``edge_index`` [2, E] int64."""
    x = rng.standard_normal((n_nodes, N_FEATURES)).astype(np.float32)
    edge_index = rng.integers(0, n_nodes, size=(2, n_edges), dtype=np.int64)
    return {"x": x, "edge_index": edge_index}


def mixed_graphs(rng: np.random.Generator, count: int) -> list[dict[str, np.ndarray]]:
    """Graphs of 1..40 nodes; every third one has no edge."""
    graphs = []
    for i in range(count):
        n = int(rng.integers(1, 40))
        e = 0 if i % 3 == 0 else int(rng.integers(1, 4 * n))
        graphs.append(random_graph(rng, n, e))
    return graphs


def reference(local, graphs: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Scores of each graph alone through local onnxruntime, stacked [G, C]."""
    return np.concatenate([local.run(pack_graphs([g]))["scores"] for g in graphs])


def graph_builder_module() -> ModuleType:
    """The python-backend graph builder, imported as a plain module (no server)."""
    path = Path(__file__).parents[2] / "python/e2e_gnn/triton/templates/graph_builder.py"
    spec = importlib.util.spec_from_file_location("e2e_gnn_graph_builder", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
