"""Triton deployment: model repository writer, config validation and a server launcher.

Needs the ``triton`` extra (``tritonclient``); the server itself comes from
``scripts/install_triton.sh`` (CPU build in the nvidia-pytriton wheel) or an NGC container.
The client is :class:`e2e_gnn.runtime.triton_backend.TritonBackend`; both read the model
with :class:`e2e_gnn.model_file.ModelFile`, and this package does not import the client.
"""

from __future__ import annotations

from e2e_gnn.triton.config import (
    ConfigError,
    Deployment,
    ModelIO,
    read_config,
    validate_repository,
)
from e2e_gnn.triton.repository import WrittenRepository, write_repository
from e2e_gnn.triton.server import TritonServer, TritonServerError, find_tritonserver

__all__ = [
    "ConfigError",
    "Deployment",
    "ModelIO",
    "TritonServer",
    "TritonServerError",
    "WrittenRepository",
    "find_tritonserver",
    "read_config",
    "validate_repository",
    "write_repository",
]


def __dir__() -> list[str]:
    return __all__
