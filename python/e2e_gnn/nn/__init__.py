"""PyG-free GNN layers that export to ONNX: scatter reductions, convolutions, pooling."""

from e2e_gnn.nn.conv import (
    ARMAConv,
    DynamicEdgeConv,
    EdgeConv,
    GATConv,
    GCNConv,
    GraphConv,
    GravNetConv,
    SAGEConv,
)
from e2e_gnn.nn.fixed_degree import NeighborTable
from e2e_gnn.nn.knn import knn_table
from e2e_gnn.nn.pool import (
    global_add_pool,
    global_max_pool,
    global_mean_max_add_pool,
    global_mean_pool,
)
from e2e_gnn.nn.scatter import scatter, scatter_softmax, scatternd_aggregation

__all__ = [
    "ARMAConv",
    "DynamicEdgeConv",
    "EdgeConv",
    "GATConv",
    "GCNConv",
    "GraphConv",
    "GravNetConv",
    "NeighborTable",
    "SAGEConv",
    "global_add_pool",
    "global_max_pool",
    "global_mean_max_add_pool",
    "global_mean_pool",
    "knn_table",
    "scatter",
    "scatter_softmax",
    "scatternd_aggregation",
]
