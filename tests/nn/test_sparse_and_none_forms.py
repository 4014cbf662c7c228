"""Forms found by running torch_geometric's own tests on e2e_gnn (scripts/pyg_test_suite.py):
a torch.sparse adj_t on ARMAConv, GATConv and GATv2Conv (with PyG's sparse attention
weights) and GIN's bipartite (x_src, None). Parity against PyG with the same weights."""

from __future__ import annotations

import pytest
import torch
import torch_geometric.nn as pyg
from torch_geometric import EdgeIndex
from torch_geometric.utils import to_torch_csc_tensor

import e2e_gnn.nn as ours

# torch.sparse warns that CSR/CSC support is in beta
pytestmark = pytest.mark.filterwarnings("ignore:Sparse:UserWarning")
EDGES = torch.tensor([[0, 1, 2, 3, 3], [0, 0, 1, 1, 2]])


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.ARMAConv(8, 6, num_stacks=2, num_layers=2),
        lambda m: m.GATConv(8, 6, heads=2),
        lambda m: m.GATv2Conv(8, 6, heads=2),
    ],
    ids=["arma", "gat", "gatv2"],
)
def test_sparse_adjacency_equals_edge_index_and_pyg(make) -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 8)
    adj_t = to_torch_csc_tensor(EDGES, size=(4, 4)).t()
    reference, layer = make(pyg), make(ours)
    layer.load_state_dict(reference.state_dict())
    expected = reference(x, EDGES)  # (PyG's ARMAConv refuses a sparse adj_t)
    torch.testing.assert_close(layer(x, EDGES), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(layer(x, adj_t), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("layer_class", ["GATConv", "GATv2Conv"])
def test_sparse_attention_weights_are_a_sparse_adjacency(layer_class) -> None:
    torch.manual_seed(1)
    x = torch.randn(4, 8)
    adj_t = to_torch_csc_tensor(EDGES, size=(4, 4)).t()
    reference = getattr(pyg, layer_class)(8, 3, heads=2)
    layer = getattr(ours, layer_class)(8, 3, heads=2)
    layer.load_state_dict(reference.state_dict())
    _, (weights, alpha) = layer(x, adj_t, return_attention_weights=True)
    _, (expected_weights, expected_alpha) = reference(x, adj_t, return_attention_weights=True)
    assert weights.shape == expected_weights.shape == (4, 4, 2)
    torch.testing.assert_close(weights.to_dense(), expected_weights.to_dense(), atol=1e-6, rtol=0)
    torch.testing.assert_close(alpha, expected_alpha, atol=1e-6, rtol=0)


def test_gin_bipartite_without_destination_features() -> None:
    torch.manual_seed(2)
    x_src = torch.randn(4, 8)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    reference, layer = pyg.GINConv(mlp), ours.GINConv(torch.nn.Sequential(*mlp))
    layer.load_state_dict(reference.state_dict())
    expected = reference((x_src, None), EDGES, size=(4, 3))
    got = layer((x_src, None), EDGES, size=(4, 3))
    assert got.shape == (3, 4)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_gat_bipartite_without_destination_features() -> None:
    torch.manual_seed(3)
    x_src = torch.randn(4, 8)
    reference, layer = pyg.GATConv((8, 16), 5, heads=2), ours.GATConv((8, 16), 5, heads=2)
    layer.load_state_dict(reference.state_dict())
    expected = reference((x_src, None), EDGES[:, :3], size=(4, 2))
    got = layer((x_src, None), EDGES[:, :3], size=(4, 2))
    assert got.shape == (2, 10)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    adj_t = to_torch_csc_tensor(EDGES[:, :3], size=(4, 2)).t()
    torch.testing.assert_close(layer((x_src, None), adj_t), expected, atol=1e-6, rtol=0)


def test_lazy_arma_is_sized_by_the_first_call_or_by_a_checkpoint() -> None:
    torch.manual_seed(4)
    x = torch.randn(5, 7)
    trained = pyg.ARMAConv(7, 4, num_stacks=2, num_layers=3)
    lazy = ours.ARMAConv(-1, 4, num_stacks=2, num_layers=3)
    assert repr(lazy) == "ARMAConv(-1, 4, num_stacks=2, num_layers=3)"
    lazy.load_state_dict(trained.state_dict())  # sized by the checkpoint
    assert lazy.init_weight.shape == (2, 7, 4) and lazy.root_weight.shape == (3, 2, 7, 4)
    torch.testing.assert_close(lazy(x, EDGES), trained(x, EDGES), atol=1e-6, rtol=0)
    first_call = ours.ARMAConv(-1, 4, num_stacks=2, num_layers=3)
    assert first_call(x, EDGES).shape == (5, 4)
    assert first_call.root_weight.shape == (3, 2, 7, 4)


@pytest.mark.parametrize("layer_class", ["GraphConv", "SAGEConv"])
def test_bipartite_without_destination_features_has_no_root_term(layer_class) -> None:
    torch.manual_seed(5)
    x_src = torch.randn(4, 8)
    reference = getattr(pyg, layer_class)((8, 16), 5)
    layer = getattr(ours, layer_class)((8, 16), 5)
    layer.load_state_dict(reference.state_dict())
    expected = reference((x_src, None), EDGES[:, :3], size=(4, 2))
    got = layer((x_src, None), EDGES[:, :3], size=(4, 2))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    # a torch_geometric EdgeIndex carries the sizes
    sized = EdgeIndex(EDGES[:, :3], sparse_size=(4, 2), sort_order="col")
    torch.testing.assert_close(layer((x_src, None), sized), expected, atol=1e-6, rtol=0)


def test_edge_conv_sparse_adjacency() -> None:
    torch.manual_seed(6)
    x = torch.randn(4, 8)
    mlp = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    reference, layer = pyg.EdgeConv(mlp), ours.EdgeConv(torch.nn.Sequential(*mlp))
    adj_t = to_torch_csc_tensor(EDGES, size=(4, 4)).t()
    torch.testing.assert_close(layer(x, adj_t), reference(x, EDGES), atol=1e-6, rtol=0)
