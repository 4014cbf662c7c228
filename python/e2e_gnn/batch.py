"""What a model takes: ``Batch`` is a GraphBatch (graph models, ``e2e_gnn.graphs.batch``)
or a FrameBatch (frame models, ``e2e_gnn.frames.batch``), with the API training and the
export parity check use (``len``, ``inputs``, ``select``, ``describe``)."""

from __future__ import annotations

from e2e_gnn.frames.batch import FrameBatch
from e2e_gnn.graphs.batch import GraphBatch

__all__ = ["Batch"]

Batch = GraphBatch | FrameBatch
