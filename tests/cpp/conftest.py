"""Fixtures for the tests of the installed C++ library: build and `cmake --install` it into a
temporary prefix, then build cpp/examples/reco_plugin against that prefix with
find_package(e2e_gnn), as an external project would."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Kept between runs so that only changed sources are rebuilt.
LIBRARY_BUILD = ROOT / "build" / "cpp-install"


def cmake() -> str:
    found = Path(sys.executable).with_name("cmake")
    return str(found) if found.exists() else shutil.which("cmake") or "cmake"


def run(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def install_prefix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The e2e_gnn library, headers, ONNX Runtime and package config installed here."""
    prefix = tmp_path_factory.mktemp("prefix")
    LIBRARY_BUILD.mkdir(parents=True, exist_ok=True)
    with open(LIBRARY_BUILD.parent / "cpp-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run(
            cmake(), "-S", ROOT, "-B", LIBRARY_BUILD, "-G", "Ninja",
            "-DCMAKE_BUILD_TYPE=Release", "-DE2E_GNN_INSTALL=ON", "-DE2E_GNN_TESTS=OFF",
            "-DE2E_GNN_PYTHON=OFF", f"-DPython_EXECUTABLE={sys.executable}",
        )  # fmt: skip
        run(cmake(), "--build", LIBRARY_BUILD, "-j", "2")
        run(cmake(), "--install", LIBRARY_BUILD, "--prefix", prefix)
    yield prefix


@pytest.fixture(scope="session")
def reco_plugin(install_prefix: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cpp/examples/reco_plugin built against the installed package only."""
    build = tmp_path_factory.mktemp("reco_plugin")
    run(
        cmake(), "-S", ROOT / "cpp" / "examples" / "reco_plugin", "-B", build, "-G", "Ninja",
        "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={install_prefix}",
    )  # fmt: skip
    run(cmake(), "--build", build, "-j", "2")
    return build / "reco_plugin"
