"""e2e_gnn's custom ONNX Runtime operators (domain ``ai.e2e_gnn``) for Python onnxruntime.

Models exported with fused operators hold ``ai.e2e_gnn`` nodes (SegmentReduce,
GatherSegmentReduce, EdgeAggregate) whose kernels are in ``libe2e_gnn_ops.so``
(``cpp/ops``), installed next to ``e2e_gnn._native``. Every onnxruntime session e2e_gnn
creates registers it through :func:`register`; any other ONNX Runtime user loads
:func:`library_path` with
``SessionOptions.register_custom_ops_library`` (Python) or ``RegisterCustomOps`` (C API).
The native C++ sessions register the operators themselves.

Imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime

DOMAIN = "ai.e2e_gnn"
"""The ONNX domain of e2e_gnn's custom operators (version 1)."""

LIBRARY_NAME = "libe2e_gnn_ops.so"


@cache
def library_path() -> Path:
    """The custom operator library: in the ``e2e_gnn`` package folders (the installed one and,
    for an editable install, the source tree), else in ``$E2E_GNN_NATIVE_DIR`` (where
    ``e2e-gnn serve`` points tritonserver's python backend at the compiled files)."""
    import e2e_gnn

    folders = [Path(folder) for folder in e2e_gnn.__path__]
    native_dir = os.environ.get("E2E_GNN_NATIVE_DIR")
    if native_dir:
        folders.append(Path(native_dir))
    for folder in folders:
        path = folder / LIBRARY_NAME
        if path.is_file():
            return path
    msg = (
        f"e2e_gnn's custom operator library {LIBRARY_NAME} is in none of "
        f"{', '.join(map(str, folders))}: run `make build` (or `pip install .`) in the checkout"
    )
    raise FileNotFoundError(msg)


def register(options: onnxruntime.SessionOptions) -> None:
    """Add the ``ai.e2e_gnn`` operators to ``options`` (before creating the session)."""
    options.register_custom_ops_library(str(library_path()))
