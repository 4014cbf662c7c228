"""Fixtures for the Triton tests: a served copy of the tiny GNN, always stopped.

The server is the real ``tritonserver`` (scripts/install_triton.sh installs the CPU build
of the nvidia-pytriton wheel into .venv-triton); the tests skip, saying so, only when no
binary can be found. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tritonclient", reason="tritonclient missing: run scripts/install_triton.sh")

from e2e_gnn.runtime.backends import OnnxRuntimeBackend
from e2e_gnn.triton import (
    TritonServer,
    TritonServerError,
    find_tritonserver,
    read_config,
    write_repository,
)
from e2e_gnn.triton.config import to_pbtxt

MODEL = Path(__file__).with_name("data") / "tiny_gnn.onnx"


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The checked-in tiny GNN (regenerate with ``python tests/triton/_model.py``)."""
    return MODEL


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Path:
    """A model repository with every variant of the tiny GNN, named ``tiny``."""
    root = tmp_path_factory.mktemp("triton_repo")
    write_repository(model_path, root, name="tiny")
    return root


LIAR = """import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            batch = pb_utils.get_input_tensor_by_name(request, "batch").as_numpy()
            scores = np.zeros((int(batch.max()) + 2, 1), dtype=np.float32)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("scores", scores)]))
        return responses
"""


@pytest.fixture(scope="session")
def served_repository(
    tmp_path_factory: pytest.TempPathFactory, repository: Path, fused_tagger_export: Path
) -> Path:
    """The written repository plus what the session's server must be caught at:
    ``tiny_python`` hand-edited to 2 intra-op threads (its template keeps the model, which
    is not thread-safe, on one) and ``tiny_liar``, a server-side model answering with one
    row of scores too many (its config carries no checksum: it is never discovered); and
    ``tiny_fused_python``, a model exported with fused operators."""
    root = tmp_path_factory.mktemp("served_repo")
    shutil.copytree(repository, root, dirs_exist_ok=True)
    write_repository(fused_tagger_export, root, name="tiny_fused", variants=("python",))
    config = read_config(root / "tiny_python" / "config.pbtxt")
    config.parameters["intra_op_threads"].string_value = "2"
    (root / "tiny_python" / "config.pbtxt").write_text(to_pbtxt(config))
    config.name = "tiny_liar"
    del config.parameters["e2e_gnn.checksum"]
    (root / "tiny_liar" / "1").mkdir(parents=True)
    (root / "tiny_liar" / "1" / "model.py").write_text(LIAR)
    (root / "tiny_liar" / "config.pbtxt").write_text(to_pbtxt(config))
    return root


INSTALL = Path(__file__).parents[2] / "scripts" / "install_triton.sh"


@pytest.fixture(scope="session")
def server_binary() -> Path:
    """The tritonserver binary; installed with scripts/install_triton.sh when missing.

    Skips (with the installer's output) only when the binary cannot be installed;
    ``E2E_GNN_NO_TRITON_INSTALL=1`` skips without trying.
    """
    try:
        return find_tritonserver()
    except TritonServerError as err:
        if os.environ.get("E2E_GNN_NO_TRITON_INSTALL"):
            pytest.skip(f"tritonserver not installed (E2E_GNN_NO_TRITON_INSTALL set): {err}")
    try:
        done = subprocess.run(
            ["bash", str(INSTALL)], capture_output=True, text=True, timeout=900, check=False
        )
        output = (done.stdout + done.stderr)[-2000:]
    except subprocess.TimeoutExpired:
        output = f"{INSTALL} did not finish within 900 s"
    try:
        return find_tritonserver()
    except TritonServerError as err:
        pytest.skip(f"tritonserver cannot be installed: {err}\n{output}")


def _start(repository: Path, binary: Path) -> TritonServer:
    return TritonServer(repository, binary=binary, startup_timeout_s=90).start()


@pytest.fixture(scope="session")
def server(served_repository: Path, server_binary: Path) -> Iterator[TritonServer]:
    """One server for the session's read-only tests; stopped at the end whatever happens."""
    running = _start(served_repository, server_binary)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def own_server(repository: Path, server_binary: Path) -> Iterator[TritonServer]:
    """A server for one test that may kill or pause it; always stopped afterwards."""
    running = _start(repository, server_binary)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def local(model_path: Path) -> Iterator[OnnxRuntimeBackend]:
    """Local onnxruntime: the reference and the fallback."""
    backend = OnnxRuntimeBackend(model_path)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def node_model_path(node_export) -> Path:
    """The shared node-level model (conftest ``node_export``): ``node_out`` [N, 2] per node
    (primary), ``graph_out`` [G, 1] per graph, graph features ``u`` [G, 3]."""
    return Path(node_export[2])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(2026)
