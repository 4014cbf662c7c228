"""PyG-free GNN layers that export to ONNX: scatter reductions, convolutions, pooling."""

from e2e_gnn.nn._fused_ops import fused_operators
from e2e_gnn.nn.builders import knn_graph, radius_graph
from e2e_gnn.nn.calibration import CalibrationGNN
from e2e_gnn.nn.conv import (
    ARMAConv,
    DynamicEdgeConv,
    EdgeConv,
    GATConv,
    GATv2Conv,
    GCNConv,
    GINConv,
    GINEConv,
    GraphConv,
    GravNetConv,
    PointNetConv,
    SAGEConv,
    TransformerConv,
)
from e2e_gnn.nn.fixed_degree import NeighborTable
from e2e_gnn.nn.jetpointnet import JetPointNet, tssr
from e2e_gnn.nn.knn import knn_table
from e2e_gnn.nn.message_passing import MessagePassing
from e2e_gnn.nn.pool import (
    global_add_pool,
    global_max_pool,
    global_mean_max_add_pool,
    global_mean_pool,
)
from e2e_gnn.nn.scatter import scatter, scatter_softmax, scatternd_aggregation, softmax

__all__ = [
    "ARMAConv",
    "CalibrationGNN",
    "DynamicEdgeConv",
    "EdgeConv",
    "GATConv",
    "GATv2Conv",
    "GCNConv",
    "GINConv",
    "GINEConv",
    "GraphConv",
    "GravNetConv",
    "JetPointNet",
    "MessagePassing",
    "NeighborTable",
    "PointNetConv",
    "SAGEConv",
    "TransformerConv",
    "fused_operators",
    "global_add_pool",
    "global_max_pool",
    "global_mean_max_add_pool",
    "global_mean_pool",
    "knn_graph",
    "knn_table",
    "radius_graph",
    "scatter",
    "scatter_softmax",
    "scatternd_aggregation",
    "softmax",
    "tssr",
]
