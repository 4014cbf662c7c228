"""Message-passing layers with torch_geometric's signatures and parameter names."""

from e2e_gnn.nn.conv.arma_conv import ARMAConv
from e2e_gnn.nn.conv.dynamic_edge_conv import DynamicEdgeConv
from e2e_gnn.nn.conv.edge_conv import EdgeConv
from e2e_gnn.nn.conv.gat_conv import GATConv
from e2e_gnn.nn.conv.gatv2_conv import GATv2Conv
from e2e_gnn.nn.conv.gcn_conv import GCNConv, gcn_norm
from e2e_gnn.nn.conv.gin_conv import GINConv, GINEConv
from e2e_gnn.nn.conv.graph_conv import GraphConv
from e2e_gnn.nn.conv.gravnet_conv import GravNetConv
from e2e_gnn.nn.conv.point_net_conv import PointNetConv
from e2e_gnn.nn.conv.sage_conv import SAGEConv
from e2e_gnn.nn.conv.transformer_conv import TransformerConv

__all__ = [
    "ARMAConv",
    "DynamicEdgeConv",
    "EdgeConv",
    "GATConv",
    "GATv2Conv",
    "GCNConv",
    "GINConv",
    "GINEConv",
    "GraphConv",
    "GravNetConv",
    "PointNetConv",
    "SAGEConv",
    "TransformerConv",
    "gcn_norm",
]
