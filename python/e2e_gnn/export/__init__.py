"""torch -> ONNX export with metadata and a parity check (needs torch)."""

from e2e_gnn.export.onnx import ParityError, export_onnx, graph_checksum
from e2e_gnn.export.parity import ParityReport, default_example

__all__ = ["ParityError", "ParityReport", "default_example", "export_onnx", "graph_checksum"]
