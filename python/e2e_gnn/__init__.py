"""e2e_gnn: HEP GNN/CNN taggers from PyTorch training to production inference.

Submodules, along the data flow:

- ``e2e_gnn.io``: ROOT files in and out (uproot, awkward), schema-mapped events
- ``e2e_gnn.frames``: detector frames around jets, photons and tracks
- ``e2e_gnn.graphs``: GraphBatch and the edge builders
- ``e2e_gnn.nn``: PyG-free layers and models (torch)
- ``e2e_gnn.export``: torch -> ONNX with metadata and a parity check (torch)
- ``e2e_gnn.runtime``: the Tagger over onnxruntime, the native C++ runtime and Triton

Importing ``e2e_gnn`` does not import torch: inference runs without it.
"""

from importlib.metadata import PackageNotFoundError, version

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.runtime.tagger import Tagger
from e2e_gnn.spec import GraphSpec, ModelSpec, SpecError, TensorSpec

try:
    __version__ = version("e2e-gnn")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = [
    "GraphBatch",
    "GraphSpec",
    "ModelSpec",
    "SpecError",
    "Tagger",
    "TensorSpec",
    "__version__",
]


def __dir__() -> list[str]:
    return __all__
