"""e2e_gnn: HEP GNN/CNN taggers from PyTorch training to production inference.

Submodules, along the data flow:

- ``e2e_gnn.io``: ROOT files in and out (uproot, awkward), schema-mapped events
- ``e2e_gnn.frames``: detector frames around jets, photons and tracks
- ``e2e_gnn.graphs``: GraphBatch and the edge builders
- ``e2e_gnn.nn``: PyG-free layers and models (torch)
- ``e2e_gnn.export``: torch -> ONNX with metadata and a parity check (torch)
- ``e2e_gnn.runtime``: the Tagger over onnxruntime, the native C++ runtime and Triton;
  ``infer_files`` scores many files on this machine's processes or on Dask

Importing ``e2e_gnn`` imports neither torch nor dask: inference runs without them.
"""

from contextlib import suppress
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from e2e_gnn._native_loader import preload_onnxruntime
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.ragged import Ragged
from e2e_gnn.runtime.tagger import Tagger
from e2e_gnn.spec import GraphSpec, ModelSpec, SpecError, TensorSpec

# Makes `import e2e_gnn._native` (which runs this file first) resolve the onnxruntime wheel's
# library (about 2 ms); without onnxruntime, loading the native module says what to install.
with suppress(ModuleNotFoundError):
    preload_onnxruntime()

try:
    __version__ = version("e2e-gnn")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = [
    "GraphBatch",
    "GraphSpec",
    "ModelSpec",
    "Ragged",
    "SpecError",
    "Tagger",
    "TensorSpec",
    "__version__",
    "infer_files",
]


def __getattr__(name: str) -> Any:
    if name == "infer_files":  # imported when used: it brings rich progress and executors
        from e2e_gnn.runtime.many_files import infer_files

        return infer_files
    msg = f"module 'e2e_gnn' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return __all__
