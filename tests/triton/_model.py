"""A tiny GNN with the exported-model I/O contract, for the Triton tests.

Inputs ``x`` float32 [N, F], ``edge_index`` int64 [2, E], ``batch`` int64 [N];
output ``scores`` float32 [G, C]. Mean aggregation over incoming edges and mean pooling per
graph, both through ``index_put(accumulate=True)`` (ScatterND add), exact for E = 0.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

N_FEATURES = 4
N_CLASSES = 3
K = 4


class TinyGNN:  # built lazily so that importing this module does not import torch
    """Namespace for the torch module factory."""

    @staticmethod
    def module():  # noqa: ANN205 - torch type only available at call time
        import torch

        class _Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                torch.manual_seed(7)
                self.lin1 = torch.nn.Linear(N_FEATURES, 16)
                self.lin2 = torch.nn.Linear(16, N_CLASSES)

            def forward(self, x, edge_index, batch):  # noqa: ANN001, ANN202
                h = torch.relu(self.lin1(x))
                src, dst = edge_index[0], edge_index[1]
                zeros_h = torch.zeros_like(h)
                agg = zeros_h.index_put((dst,), h[src], accumulate=True)
                ones_e = torch.ones_like(src, dtype=h.dtype)
                deg = torch.zeros_like(h[:, 0]).index_put((dst,), ones_e, accumulate=True)
                h = h + agg / deg.clamp(min=1.0).unsqueeze(1)
                sums = torch.zeros_like(h).index_put((batch,), h, accumulate=True)
                counts = torch.zeros_like(h[:, 0]).index_put(
                    (batch,), torch.ones_like(h[:, 0]), accumulate=True
                )
                # graphs 0..G-1 are exactly the slots with a node (every graph is non-empty)
                mask = counts > 0
                pooled = sums[mask] / counts[mask].unsqueeze(1)
                return self.lin2(pooled)

        return _Net().eval()


def export_tiny_gnn(path: Path) -> Path:
    """Export :class:`TinyGNN` to one self-contained ONNX file with e2e_gnn metadata."""
    import onnx
    import torch

    net = TinyGNN.module()
    x = torch.randn(6, N_FEATURES)
    edge_index = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 0, 4, 5]], dtype=torch.int64)
    batch = torch.tensor([0, 0, 0, 1, 1, 1], dtype=torch.int64)
    n, e = torch.export.Dim("N", min=2), torch.export.Dim("E", min=0)
    program = torch.onnx.export(
        net,
        (x, edge_index, batch),
        dynamo=True,
        opset_version=18,
        external_data=False,
        input_names=["x", "edge_index", "batch"],
        output_names=["scores"],
        dynamic_shapes={"x": {0: n}, "edge_index": {1: e}, "batch": {0: n}},
    )
    model = program.model_proto
    spec = {
        "inputs": ["x", "edge_index", "batch"],
        "outputs": ["scores"],
        "graph": {
            "features": [f"f{i}" for i in range(N_FEATURES)],
            "coordinates": [0, 1],
            "k": K,
            "loop": False,
        },
    }
    content = hashlib.sha256(model.graph.SerializeToString()).hexdigest()
    for key, value in (
        ("e2e_gnn.spec", json.dumps(spec)),
        ("e2e_gnn.checksum", content),
        ("e2e_gnn.version", "0.0.test"),
    ):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(model, str(path))
    return path


def random_graph(rng: np.random.Generator, n_nodes: int, n_edges: int) -> dict[str, np.ndarray]:
    """One graph: ``x`` [n, F] float32 and ``edge_index`` [2, E] int64."""
    x = rng.standard_normal((n_nodes, N_FEATURES)).astype(np.float32)
    edge_index = rng.integers(0, n_nodes, size=(2, n_edges), dtype=np.int64)
    return {"x": x, "edge_index": edge_index}
