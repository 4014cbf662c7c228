"""Inference backends behind the Tagger: each runs named numpy inputs through one model.

A backend implements ``run(inputs: dict[str, ndarray]) -> dict[str, ndarray]``,
``metadata`` (the model's ONNX metadata_props) and ``close()``. Sessions are created once
per backend and reused for every call.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Protocol

import numpy as np


class Backend(Protocol):
    metadata: dict[str, str]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


def _check_model_file(model_path: str | Path) -> Path:
    path = Path(model_path)
    if not path.is_file():
        msg = f"model file {str(path)!r} does not exist"
        raise FileNotFoundError(msg)
    return path


def threads_for(path: Path, threads: int) -> int:
    """The intra-op threads to run ``path`` with: ``threads``, or 1 with a warning when the
    model has a ScatterND with a reduction. ONNX Runtime (1.32, CPU) splits those updates
    over threads without guarding rows that two threads update: with 2 threads, rows of 32
    floats lost updates (errors of order 1) on random indices, and our taggers' scores moved
    by up to 1e-3 (see microsoft/onnxruntime#18048, #23396)."""
    if threads <= 1:
        return threads
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    racy = any(
        node.op_type == "ScatterND"
        and any(a.name == "reduction" and a.s not in (b"", b"none") for a in node.attribute)
        for node in graph.node
    )
    if not racy:
        return threads
    warnings.warn(
        f"{str(path)!r} aggregates with ScatterND reductions, which ONNX Runtime computes "
        f"wrongly on more than one intra-op thread; running it on 1 thread, not {threads}",
        RuntimeWarning,
        stacklevel=3,
    )
    return 1


class OnnxRuntimeBackend:
    """Python onnxruntime; CUDA when ``device="cuda"`` and available, else CPU with a warning."""

    def __init__(
        self, model_path: str | Path, threads: int = 1, device: str = "cpu", optimization: int = 99
    ) -> None:
        import onnxruntime as ort

        path = _check_model_file(model_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads_for(path, threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = {
            0: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            1: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            2: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        }.get(optimization, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
            else:
                warnings.warn(
                    "CUDA requested but this onnxruntime has no CUDAExecutionProvider "
                    "(install onnxruntime-gpu); running on the CPU",
                    RuntimeWarning,
                    stacklevel=2,
                )
        try:
            self._session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own, unexported exception types
            msg = f"cannot load {str(path)!r} as an ONNX model: {err}"
            raise ValueError(msg) from err
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)
        self._input_names = [i.name for i in self._session.get_inputs()]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        unknown = set(inputs) - set(self._input_names)
        if unknown:
            msg = f"model has no input(s) {sorted(unknown)}; its inputs are {self._input_names}"
            raise ValueError(msg)
        names = [o.name for o in self._session.get_outputs()]
        return dict(zip(names, self._session.run(names, inputs), strict=True))

    def close(self) -> None:
        del self._session


class NativeBackend:
    """e2e_gnn's C++ runtime (ONNX Runtime C++ API): validates before ORT sees inputs."""

    def __init__(
        self, model_path: str | Path, threads: int = 1, device: str = "cpu", optimization: int = 99
    ) -> None:
        from e2e_gnn._native_loader import load_native

        native = load_native()
        path = _check_model_file(model_path)
        options = native.SessionOptions()
        options.intra_op_threads = threads_for(path, threads)
        options.graph_optimization_level = optimization
        options.backend = native.Backend.cuda if device == "cuda" else native.Backend.cpu
        self._session = native.Session(str(path), options)
        self.metadata = dict(self._session.metadata)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._session.run(inputs)

    def close(self) -> None:
        del self._session


def _triton_backend(model_path: str | Path, **options: object) -> Backend:
    from e2e_gnn.runtime.triton_backend import TritonBackend

    return TritonBackend(model_path, **options)  # type: ignore[arg-type]


BACKENDS = {
    "onnxruntime": OnnxRuntimeBackend,
    "native": NativeBackend,
    "triton": _triton_backend,
}
