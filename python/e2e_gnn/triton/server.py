"""Start and stop a real ``tritonserver`` on 127.0.0.1 with free ports.

Two server builds are supported:

* the CPU build inside the ``nvidia-pytriton`` wheel
  (``site-packages/pytriton/tritonserver/bin/tritonserver``), python backend only. Its python
  backend embeds the Python of the environment it is installed in (numpy<2), needs the stub
  for that Python version copied next to ``libtriton_python.so`` and the wheel's bundled
  libraries on ``LD_LIBRARY_PATH``: :class:`TritonServer` does both in a private temporary
  directory. ``scripts/install_triton.sh`` installs it into ``<repo>/.venv-triton``.
* a full build (NGC container, ``tritonserver`` on PATH with ``/opt/tritonserver/backends``).

Models whose backend the server lacks (``onnxruntime_onnx`` on the pytriton build) are not
loaded (explicit model control) and are reported as skipped, with ensembles that need them.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from e2e_gnn.triton.config import validate_repository

#: Environment variable that names the tritonserver binary to use.
BINARY_ENV = "E2E_GNN_TRITONSERVER"
#: platform -> backend directory it needs
_PLATFORM_BACKENDS = {
    "onnxruntime_onnx": "onnxruntime",
    "pytorch_libtorch": "pytorch",
    "tensorrt_plan": "tensorrt",
}
_BUILTIN_PLATFORMS = {"ensemble"}


class TritonServerError(RuntimeError):
    """The server binary is missing, did not start, or did not become ready."""


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def find_tritonserver(binary: str | os.PathLike[str] | None = None) -> Path:
    """Locate the server: ``binary``, ``$E2E_GNN_TRITONSERVER``, ``<repo>/.venv-triton``, PATH."""
    candidates: list[Path] = []
    if binary is not None:
        candidates.append(Path(binary))
    elif os.environ.get(BINARY_ENV):
        candidates.append(Path(os.environ[BINARY_ENV]))
    else:
        venv = _repo_root() / ".venv-triton"
        candidates.extend(
            sorted(venv.glob("lib/python3*/site-packages/pytriton/tritonserver/bin/tritonserver"))
        )
        on_path = shutil.which("tritonserver")
        if on_path:
            candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.resolve()
    tried = ", ".join(repr(str(c)) for c in candidates) or "nothing"
    msg = (
        f"no tritonserver binary found (tried {tried}); run scripts/install_triton.sh, "
        f"set {BINARY_ENV}=/path/to/tritonserver, or put tritonserver on PATH (NGC container)"
    )
    raise TritonServerError(msg)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class _Layout:
    """How to run one server build: backend directory, environment additions."""

    backend_dir: Path
    ld_library_path: tuple[Path, ...]
    path: tuple[Path, ...]


def _pytriton_layout(binary: Path, workdir: Path) -> _Layout | None:
    """Prepare the pytriton wheel's server (stub per Python version) in ``workdir``."""
    dist = binary.parent.parent  # .../pytriton/tritonserver
    if dist.name != "tritonserver" or dist.parent.name != "pytriton":
        return None
    site_packages = dist.parent.parent
    version = site_packages.parent.name.removeprefix("python")  # lib/python3.11
    stub = dist / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        msg = f"pytriton at {str(dist)!r} has no python backend stub for Python {version!r}"
        raise TritonServerError(msg)
    backends = workdir / "backends"
    shutil.copytree(dist / "backends", backends, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(stub, backends / "python" / "triton_python_backend_stub")
    venv_bin = site_packages.parent.parent.parent / "bin"
    return _Layout(backends, (site_packages / "nvidia_pytriton.libs",), (venv_bin,))


def _layout(binary: Path, workdir: Path) -> _Layout:
    layout = _pytriton_layout(binary, workdir)
    if layout is not None:
        return layout
    for backends in (binary.parent.parent / "backends", Path("/opt/tritonserver/backends")):
        if backends.is_dir():
            return _Layout(backends, (), ())
    msg = f"no backends directory next to {str(binary)!r} or in /opt/tritonserver/backends"
    raise TritonServerError(msg)


def servable_models(repository: Path, backend_dir: Path) -> tuple[list[str], dict[str, str]]:
    """Split the repository's models into (loadable, {skipped: reason}) for this server."""
    configs = validate_repository(repository)
    available = {p.name for p in backend_dir.iterdir() if p.is_dir()}
    skipped: dict[str, str] = {}
    for name, config in configs.items():
        needed = config.backend or _PLATFORM_BACKENDS.get(config.platform, config.platform)
        if config.platform not in _BUILTIN_PLATFORMS and needed not in available:
            skipped[name] = f"server has no {needed!r} backend (has {sorted(available)!r})"
    changed = True
    while changed:  # ensembles that use a skipped model are skipped too
        changed = False
        for name, config in configs.items():
            if name in skipped:
                continue
            missing = [
                s.model_name for s in config.ensemble_scheduling.step if s.model_name in skipped
            ]
            if missing:
                skipped[name] = f"ensemble uses skipped model(s) {missing!r}"
                changed = True
    return [n for n in configs if n not in skipped], skipped


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies (Linux), so no server is orphaned.

    Runs between fork and exec; the signal follows the thread that started the server.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class TritonServer:
    """A tritonserver subprocess on 127.0.0.1; a context manager that always stops it.

    Args:
        repository: Triton model repository (validated before start).
        binary: tritonserver to run (default: :func:`find_tritonserver`).
        http_port, grpc_port: ports to bind on 127.0.0.1 (default: free ports).
        startup_timeout_s: how long :meth:`start` waits for readiness.
        pythonpath: entries the graph builder adds to the python backend's ``sys.path``
            through ``$E2E_GNN_PYTHONPATH`` (default: the source directory holding the
            ``e2e_gnn`` package, when it is not in site-packages); the embedded interpreter
            ignores PYTHONPATH.
        log_verbose: tritonserver ``--log-verbose`` level.
    """

    def __init__(
        self,
        repository: str | os.PathLike[str],
        *,
        binary: str | os.PathLike[str] | None = None,
        http_port: int | None = None,
        grpc_port: int | None = None,
        startup_timeout_s: float = 120.0,
        pythonpath: list[str] | None = None,
        log_verbose: int = 0,
    ) -> None:
        self.repository = Path(repository).resolve()
        self.binary = find_tritonserver(binary)
        self.host = "127.0.0.1"
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.startup_timeout_s = startup_timeout_s
        if pythonpath is None:
            # a source checkout; an installed e2e_gnn must be installed in the server's env
            # too (its site-packages would bring this venv's numpy into the python backend)
            parent = Path(__file__).resolve().parents[2]
            pythonpath = [] if parent.name in ("site-packages", "dist-packages") else [str(parent)]
        self.pythonpath = list(pythonpath)
        self.log_verbose = log_verbose
        self.models: list[str] = []
        self.skipped: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self.log_path: Path | None = None
        # python-backend shared memory regions of this server, removed by stop()
        self._shm_prefix = f"e2e_gnn_{os.getpid()}_{id(self):x}_"

    @property
    def http_url(self) -> str:
        """``host:port`` of the HTTP/REST endpoint (tritonclient style, no scheme)."""
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """``host:port`` of the gRPC endpoint."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, None when stopped."""
        return self._process.pid if self._process is not None else None

    def _command(self, layout: _Layout) -> list[str]:
        command = [
            str(self.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={layout.backend_dir}",
            f"--http-address={self.host}",
            f"--http-port={self.http_port}",
            f"--grpc-address={self.host}",
            f"--grpc-port={self.grpc_port}",
            "--allow-metrics=false",
            "--model-control-mode=explicit",
            "--strict-readiness=true",
            "--exit-on-error=true",
            "--exit-timeout-secs=5",
            f"--log-verbose={self.log_verbose}",
            # small shared-memory arenas: python-backend tensors are small, and /dev/shm
            # is often limited in containers; the arena grows on demand.
            "--backend-config=python,shm-default-byte-size=4194304",
            "--backend-config=python,shm-growth-byte-size=1048576",
            f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}",
        ]
        command += [f"--load-model={name}" for name in self.models]
        return command

    def _environment(self, layout: _Layout) -> dict[str, str]:
        env = dict(os.environ)

        def prepend(key: str, entries: list[str]) -> None:
            if entries:
                env[key] = os.pathsep.join([*entries, *filter(None, [env.get(key, "")])])

        prepend("LD_LIBRARY_PATH", [str(p) for p in layout.ld_library_path])
        prepend("PATH", [str(p) for p in layout.path])
        prepend("E2E_GNN_PYTHONPATH", self.pythonpath)
        native = importlib.util.find_spec("e2e_gnn._native")
        if native is not None and native.origin:  # the graph builder's native kNN
            env.setdefault("E2E_GNN_NATIVE_DIR", str(Path(native.origin).parent))
        # one onnxruntime/BLAS thread per instance unless asked otherwise: cores are shared
        env.setdefault("OMP_NUM_THREADS", "1")
        return env

    def start(self) -> TritonServer:
        """Start the server and wait until it is ready and its models are loaded."""
        if self._process is not None:
            msg = f"tritonserver for {str(self.repository)!r} is already running (pid {self.pid})"
            raise TritonServerError(msg)
        self._workdir = tempfile.TemporaryDirectory(prefix="e2e_gnn_triton_")
        workdir = Path(self._workdir.name)
        try:
            layout = _layout(self.binary, workdir)
            self.models, self.skipped = servable_models(self.repository, layout.backend_dir)
            if not self.models:
                msg = f"no model in {str(self.repository)!r} can run here: {self.skipped!r}"
                raise TritonServerError(msg)
            self.log_path = workdir / "tritonserver.log"
            with self.log_path.open("wb") as log:
                self._process = subprocess.Popen(
                    self._command(layout),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._environment(layout),
                    start_new_session=True,  # Ctrl-C reaches us; we stop the server in order
                    preexec_fn=_die_with_parent,
                )
            self.wait_ready(self.startup_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of the server log (for error messages)."""
        if self.log_path is None or not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _get(self, path: str, timeout_s: float) -> tuple[int, bytes]:
        url = f"http://{self.http_url}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as err:
            return int(err.code), err.read()

    def wait_ready(self, timeout_s: float) -> None:
        """Poll ``/v2/health/ready`` until 200; raise if the process exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while True:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                msg = (
                    f"tritonserver exited with code {code!r} while starting on {self.http_url} "
                    f"with {str(self.repository)!r}; log tail:\n{self.log_tail()}"
                )
                raise TritonServerError(msg)
            with contextlib.suppress(OSError):
                status, _ = self._get("/v2/health/ready", timeout_s=1.0)
                if status == 200:
                    return
            if time.monotonic() > deadline:
                msg = (
                    f"tritonserver on {self.http_url} not ready after {timeout_s:.0f} s "
                    f"(models {self.models!r}); log tail:\n{self.log_tail()}"
                )
                raise TritonServerError(msg)
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def loaded_models(self) -> list[dict[str, str]]:
        """The server's repository index: ``[{name, version, state}, ...]``."""
        request = urllib.request.Request(
            f"http://{self.http_url}/v2/repository/index", data=b"{}", method="POST"
        )
        with urllib.request.urlopen(request, timeout=5.0) as response:
            return list(json.loads(response.read()))

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL; remove the work directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)  # in case a test paused it
                process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if process is not None:
            # the python backend stubs are in the server's session: none may outlive it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        for region in Path("/dev/shm").glob(f"{self._shm_prefix}*"):  # left by a killed server
            region.unlink(missing_ok=True)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.pid else "stopped"
        return f"TritonServer({str(self.repository)!r}, http={self.http_url}, {state})"


__all__ = ["BINARY_ENV", "TritonServer", "TritonServerError", "find_tritonserver", "free_port"]
