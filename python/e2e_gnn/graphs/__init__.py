"""Graphs: the ragged GraphBatch and the edge builders (kNN, thresholds, Delaunay)."""

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.builders import delaunay_graph, knn_graph, threshold_graph
from e2e_gnn.graphs.from_frames import graphs_from_frames, graphs_from_points, graphs_from_spec

__all__ = [
    "GraphBatch",
    "delaunay_graph",
    "graphs_from_frames",
    "graphs_from_points",
    "graphs_from_spec",
    "knn_graph",
    "threshold_graph",
]
