"""Load the compiled module ``e2e_gnn._native`` and the ONNX Runtime library it links.

The native module is linked against the ``libonnxruntime.so.<version>`` that the
onnxruntime wheel ships. That file's SONAME is ``libonnxruntime.so.1``, a name no file
in the wheel carries, so the library is loaded here first with RTLD_GLOBAL: the dynamic
loader then resolves the native module's dependency to the already loaded library, and
Python's onnxruntime and e2e_gnn share one ONNX Runtime build.

When e2e_gnn is imported from a source tree whose package folder has no compiled module
(tritonserver's python backend imports the checkout given by ``$E2E_GNN_PYTHONPATH``),
``$E2E_GNN_NATIVE_DIR`` names the folder that holds ``_native*.so`` (``e2e-gnn serve`` sets it).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from functools import cache
from pathlib import Path
from types import ModuleType


def onnxruntime_library() -> Path:
    """The shared library inside the installed onnxruntime wheel."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        msg = "the native backend needs onnxruntime: pip install onnxruntime"
        raise ModuleNotFoundError(msg)
    capi = Path(next(iter(spec.submodule_search_locations))) / "capi"
    libraries = sorted(p for p in capi.glob("libonnxruntime.so.*") if "providers" not in p.name)
    if not libraries:
        msg = f"no libonnxruntime.so.* in {capi}: reinstall onnxruntime"
        raise ModuleNotFoundError(msg)
    return libraries[-1]


@cache
def preload_onnxruntime() -> None:
    """Load the wheel's ONNX Runtime library (once) so that the dynamic loader resolves the
    native module's ``libonnxruntime.so.1`` to it (``e2e_gnn/__init__.py`` calls this, which
    makes ``import e2e_gnn._native`` work directly; it costs about 2 ms)."""
    ctypes.CDLL(str(onnxruntime_library()), mode=ctypes.RTLD_GLOBAL)


@cache
def load_native() -> ModuleType:
    """Import ``e2e_gnn._native`` (once), with a rebuild hint when it is missing."""
    preload_onnxruntime()
    import e2e_gnn

    native_dir = os.environ.get("E2E_GNN_NATIVE_DIR")
    if native_dir and native_dir not in e2e_gnn.__path__:
        e2e_gnn.__path__.append(native_dir)
    try:
        from e2e_gnn import _native
    except ImportError as err:
        err.add_note(
            "e2e_gnn's native module is not built or does not load: run `make build` "
            "(or `pip install .`) in the e2e_gnn checkout."
        )
        raise
    return _native
