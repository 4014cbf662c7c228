"""CalibrationGNN: bounded factors that start at 1, jets independent of their batch
neighbours, node order, and the export with parity (node and graph outputs, E = 0, one-node
graphs, shuffled batches) through e2e_gnn's exporter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from e2e_gnn.export import export_onnx
from e2e_gnn.export.parity import default_example
from e2e_gnn.graphs import delaunay_graph
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.nn import CalibrationGNN
from e2e_gnn.spec import GraphSpec, ModelSpec

FEATURES, GRAPH_FEATURES = 5, 3


def _jet(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    return x, delaunay_graph(x[:, :2].copy())


def _model(seed: int = 0, scale: float = 0.3, layers: int = 2) -> CalibrationGNN:
    torch.manual_seed(seed)
    model = CalibrationGNN(FEATURES, GRAPH_FEATURES, hidden=8, num_layers=layers)
    with torch.no_grad():  # away from the start (factor 1): outputs that differ per node
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    return model.eval()


def _run(model: CalibrationGNN, graphs: GraphBatch) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        factor, shift = model(*(torch.from_numpy(a) for a in graphs.inputs().values()))
    return factor.numpy(), shift.numpy()


def _batch(rng: np.random.Generator, sizes: list[int]) -> GraphBatch:
    u = rng.normal(size=(len(sizes), GRAPH_FEATURES)).astype(np.float32)
    return GraphBatch.from_graphs([_jet(rng, n) for n in sizes], u=u)


def test_starts_at_factor_one_and_no_shift() -> None:
    torch.manual_seed(0)
    model = CalibrationGNN(FEATURES, GRAPH_FEATURES, hidden=8, min_factor=0.5, max_factor=3.0)
    factor, shift = _run(model.eval(), _batch(np.random.default_rng(0), [4, 1, 7]))
    assert factor.shape == (12, 1) and shift.shape == (3, 1)
    np.testing.assert_allclose(factor, 1.0, rtol=1e-6)
    assert not shift.any()


def test_factors_stay_inside_their_bounds() -> None:
    graphs = _batch(np.random.default_rng(1), [6, 9, 3])
    factor, _ = _run(_model(scale=30.0), graphs)  # huge weights: factors pushed to the bounds
    assert (factor >= 0.5).all() and (factor <= 3.0).all()
    assert factor.min() < 0.6 and factor.max() > 2.9


def test_jets_are_independent_and_nodes_permute() -> None:
    rng = np.random.default_rng(2)
    sizes = [1, 5, 12]
    graphs = _batch(rng, sizes)
    model = _model()
    together, shift = _run(model, graphs)
    ptr = graphs.node_ptr
    for g in range(len(sizes)):
        x, edges = graphs.graph(g)
        alone = GraphBatch.from_graphs([(x, edges)], u=graphs.u[g : g + 1])
        factor, own_shift = _run(model, alone)
        np.testing.assert_allclose(factor, together[ptr[g] : ptr[g + 1]], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(own_shift, shift[g : g + 1], rtol=1e-5, atol=1e-6)
    # the nodes of the 12-node jet in another order (edges renumbered): same outputs, permuted
    x, edges = graphs.graph(2)
    order = rng.permutation(12)
    position = np.argsort(order)
    shuffled = GraphBatch.from_graphs([(x[order], position[edges])], u=graphs.u[2:3])
    factor, own_shift = _run(model, shuffled)
    np.testing.assert_allclose(factor, together[ptr[2] :][order], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(own_shift, shift[2:3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("low", "high"), [(0.0, 2.0), (1.2, 2.0), (0.5, 0.9)])
def test_bounds_must_enclose_one(low: float, high: float) -> None:
    with pytest.raises(ValueError, match="0 < min_factor < 1 < max_factor"):
        CalibrationGNN(FEATURES, GRAPH_FEATURES, min_factor=low, max_factor=high)


def test_export_with_parity(tmp_path: Path) -> None:
    """Both outputs exported as declared and checked against torch on every parity case of
    ``export_onnx`` (E = 0, one node, many graphs, shuffled batches)."""
    model = _model(layers=1)  # one EdgeConv block: the export's cost is per layer
    graph = GraphSpec(
        feature_names=tuple(f"f{i}" for i in range(FEATURES)),
        builder="delaunay",
        k=None,
        coordinates=("f0", "f1"),
        coordinate_scale=(1.0, 1.0),
        graph_feature_names=tuple(f"g{i}" for i in range(GRAPH_FEATURES)),
    )
    spec = ModelSpec("calibration", "CalibrationGNN", model.hyperparameters, graph=graph)
    report = export_onnx(model, spec, tmp_path / "calibration.onnx", default_example(spec))
    assert {row.output for row in report.rows} == {"energy_factor", "rapidity_shift"}
    cases = " ".join(row.case for row in report.rows)
    assert "no edges" in cases and "shuffled" in cases
    assert report.passed and report.max_abs_diff < 1e-5
