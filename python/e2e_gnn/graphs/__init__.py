"""Graphs: the ragged GraphBatch and the edge builders (kNN, thresholds, Delaunay)."""

from e2e_gnn.graphs.batch import GraphBatch

__all__ = ["GraphBatch"]
