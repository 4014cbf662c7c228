"""JetPointNet: TSSR and the orthogonality penalty against hand values, ragged pooling
(clouds independent of their batch neighbours, no length limit), the energy bypass, and the
export of a cloud longer than the seed's 859 points, compared in ONNX Runtime."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _nn_onnx import export_model, open_session

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.nn import JetPointNet, tssr
from e2e_gnn.nn.jetpointnet import TNet, orthogonality_penalty

FEATURES = 5
ENERGY = 3


def test_tssr_hand_values() -> None:
    x = torch.tensor([0.0, 0.5, -1.0, 1.0, 2.25, 4.0, -9.0, 100.0])
    # |x| <= 1: x; else sign(x) (2 sqrt|x| - 1): 2*1.5-1, 2*2-1, -(2*3-1), 2*10-1
    expected = torch.tensor([0.0, 0.5, -1.0, 1.0, 2.0, 3.0, -5.0, 19.0])
    assert torch.equal(tssr(x), expected)


def test_tssr_gradient_is_continuous_and_finite() -> None:
    x = torch.tensor([0.0, 1.0, 1.0 + 1e-4, 4.0, -4.0], requires_grad=True)
    tssr(x).sum().backward()
    assert x.grad is not None
    # slope 1 inside, 1/sqrt|x| outside: 1 just above 1, 0.5 at |x| = 4
    assert x.grad.tolist() == pytest.approx([1.0, 1.0, 1 / math.sqrt(1 + 1e-4), 0.5, 0.5])


def test_orthogonality_penalty_hand_values() -> None:
    angle = 0.3
    rotation = torch.tensor(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    # ||I - A A^T||_F^2: 0 for a rotation; A = 2I gives (1 - 4)^2 * 2 = 18; mean over clouds
    transforms = torch.stack([rotation, 2 * torch.eye(2)])
    assert orthogonality_penalty(transforms[:1]).item() == pytest.approx(0.0, abs=1e-6)
    assert orthogonality_penalty(transforms).item() == pytest.approx(9.0)


def test_transform_nets_start_at_the_identity() -> None:
    torch.manual_seed(0)
    net = TNet(4, 8)
    h, batch = torch.randn(7, 4), torch.tensor([0, 0, 0, 1, 1, 2, 2])
    assert torch.equal(net(h, batch), torch.eye(4).expand(3, 4, 4))


def _cloud(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    x[:, ENERGY] = rng.exponential(2.0, size=n)
    return x


def _model(seed: int = 0) -> JetPointNet:
    torch.manual_seed(seed)
    model = JetPointNet(FEATURES, ENERGY, width=8, global_width=16)
    with torch.no_grad():  # leave the identity start: transforms that do something
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return model.eval()


def _run(model: JetPointNet, graphs: GraphBatch) -> np.ndarray:
    with torch.no_grad():
        inputs = (torch.from_numpy(a) for a in graphs.inputs().values())
        return model(*inputs).numpy()


def test_clouds_are_independent_ragged_and_unbounded() -> None:
    rng = np.random.default_rng(1)
    clouds = [_cloud(rng, n) for n in (1, 5, 1000)]
    none = np.zeros((2, 0), dtype=np.int64)
    model = _model()
    together = _run(model, GraphBatch.from_graphs((x, none) for x in clouds))
    assert together.shape == (1006, 1)
    alone = np.concatenate([_run(model, GraphBatch.from_graphs([(x, none)])) for x in clouds])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    # the points of a cloud in another order: the same outputs in that order
    order = rng.permutation(1000)
    shuffled = _run(model, GraphBatch.from_graphs([(clouds[2][order], none)]))
    np.testing.assert_allclose(shuffled, alone[6:][order], rtol=1e-5, atol=1e-6)


def test_output_is_tssr_of_the_head_times_the_point_energy() -> None:
    rng = np.random.default_rng(2)
    x = _cloud(rng, 6)
    x[2, ENERGY] = 0.0
    model = _model()
    graphs = GraphBatch.from_graphs([(x, np.zeros((2, 0), dtype=np.int64))])
    out = _run(model, graphs)[:, 0]
    assert out[2] == 0.0
    # the fraction out / energy is TSSR of the head: inside (-1, 1) or beyond only as sqrt
    with torch.no_grad():
        energy, penalty = model.forward_with_regularization(
            torch.from_numpy(x), torch.zeros(6, dtype=torch.int64)
        )
    np.testing.assert_array_equal(energy.numpy()[:, 0], out)
    assert penalty.item() > 0


def test_energy_index_is_checked() -> None:
    with pytest.raises(ValueError, match=r"energy_index must be a column of x, in \[0, 5\)"):
        JetPointNet(FEATURES, 5)


def test_onnx_export_on_a_cloud_longer_than_859_points() -> None:
    """The model alone through the dynamo exporter (the e2e_gnn exporter, parity cases and
    all, runs in tests/train/test_node_level.py)."""
    rng = np.random.default_rng(3)
    model = _model()
    edges = np.array([[0, 1], [1, 0]])  # >= 2 on every dynamic axis; PointNet ignores them
    example = GraphBatch.from_graphs([(_cloud(rng, n), edges) for n in (12, 30, 7)])
    exported = export_model(
        model,
        {name: torch.from_numpy(a) for name, a in example.inputs().items()},
        {"x": {0: "nodes"}, "edge_index": {1: "edges"}, "batch": {0: "nodes"}},
    )
    session = open_session(exported, threads=None)
    none = np.zeros((2, 0), dtype=np.int64)
    graphs = GraphBatch.from_graphs([(_cloud(rng, n), none) for n in (2000, 1, 900)])
    (got,) = session.run(None, graphs.inputs())
    assert got.shape == (2901, 1)
    np.testing.assert_allclose(got, _run(model, graphs), rtol=1e-5, atol=1e-5)
