"""The server launcher and ``e2e-gnn serve``: readiness, skipped models, clean shutdown."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e_gnn.triton import TritonServer, TritonServerError, find_tritonserver

pytestmark = pytest.mark.triton
TEMPLATES = Path(__file__).parents[2] / "triton_models"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return state.exists() and state.read_text().split()[2] != "Z"


def test_reports_loaded_and_skipped_models(server: TritonServer) -> None:
    states = {m["name"]: m.get("state") for m in server.loaded_models()}
    assert states["tiny_python"] == states["tiny_hits"] == "READY"
    if not (server.binary.parent.parent / "backends" / "onnxruntime").is_dir():
        assert "no 'onnxruntime' backend" in server.skipped["tiny"]


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TritonServerError, match="no tritonserver binary found .*install_triton"):
        find_tritonserver(tmp_path / "tritonserver")


def test_broken_model_fails_startup_with_log(repository: Path, server_binary: Path, tmp_path):
    broken = tmp_path / "repo"
    (broken / "bad" / "1").mkdir(parents=True)
    (broken / "bad" / "1" / "model.py").write_text("raise RuntimeError('broken on purpose')\n")
    (broken / "bad" / "config.pbtxt").write_text(
        (repository / "tiny_python" / "config.pbtxt").read_text().replace("tiny_python", "bad")
    )
    server = TritonServer(broken, binary=server_binary, startup_timeout_s=60)
    with pytest.raises(TritonServerError, match="(?s)exited with code.*broken on purpose"):
        server.start()
    assert server.pid is None  # stopped and cleaned up


@pytest.mark.parametrize("sigint_ignored", [False, True])
def test_serve_command_stops_on_ctrl_c(
    server_binary: Path, tmp_path: Path, sigint_ignored: bool
) -> None:
    """Also when started with SIGINT ignored, as a background job of a script is."""
    shutil.copytree(TEMPLATES, tmp_path / "triton_models")  # the server writes __pycache__
    code = "from e2e_gnn.triton.cli import serve_command; serve_command(['triton_models'])"
    if sigint_ignored:
        code = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); " + code
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "E2E_GNN_TRITONSERVER": str(server_binary), "COLUMNS": "200"},
    )
    try:
        lines = []
        deadline = time.monotonic() + 90
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "tritonserver ready" in line or not line:
                break
        output = "".join(lines)
        assert "tritonserver ready" in output, output
        assert "example_gnn_hits" in output and "READY" in output
        pid = int(output.split("(pid ")[1].split(")")[0])
        assert _alive(pid)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        assert "stopping tritonserver" in rest
        assert process.returncode == 0
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.05)
        assert not _alive(pid), f"tritonserver pid {pid} still running after Ctrl-C"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
