"""torch -> ONNX export with metadata and a parity check (needs torch)."""

from e2e_gnn.export.lint import UnsupportedOperationError, find_unsupported_operations
from e2e_gnn.export.onnx import (
    ParityError,
    export_onnx,
    export_spec,
    graph_checksum,
    racy_reductions,
)
from e2e_gnn.export.parity import ParityReport, default_example
from e2e_gnn.frames.batch import FrameBatch

__all__ = [
    "FrameBatch",
    "ParityError",
    "ParityReport",
    "UnsupportedOperationError",
    "default_example",
    "export_onnx",
    "export_spec",
    "find_unsupported_operations",
    "graph_checksum",
    "racy_reductions",
]
