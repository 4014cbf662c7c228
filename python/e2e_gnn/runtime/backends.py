"""Inference backends behind the Tagger: each runs named numpy inputs through one model.

A backend implements ``run(inputs: dict[str, ndarray]) -> dict[str, ndarray]``,
``metadata`` (the model's ONNX metadata_props) and ``close()``. Sessions are created once
per backend and reused for every call.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from e2e_gnn import custom_ops
from e2e_gnn._native_loader import load_native
from e2e_gnn.model_file import ModelFile


class Backend(Protocol):
    metadata: dict[str, str]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


class OnnxRuntimeBackend:
    """Python onnxruntime; CUDA when ``device="cuda"`` and available, else CPU with a warning.

    The model file is read once by :class:`~e2e_gnn.model_file.ModelFile` (metadata, spec
    and, unless ``verify_checksum=False``, its checksum). The intra-op threads follow the
    thread rule of every path (``e2e_gnn::intra_op_threads_for`` in C++): ``threads``
    (>= 1, or 0 for all cores) for a model whose spec says thread_safe, else 1 with a
    RuntimeWarning; negative: ValueError.
    """

    def __init__(
        self,
        model_path: str | Path,
        threads: int = 1,
        device: str = "cpu",
        optimization: int = 99,
        verify_checksum: bool = True,
    ) -> None:
        import onnxruntime as ort

        model = ModelFile.read(model_path, verify_checksum=verify_checksum)
        path = model.path
        self.metadata: dict[str, str] = dict(model.metadata)
        self.model_inputs = model.inputs
        used, note = load_native().intra_op_threads(threads, self.metadata, f"model {str(path)!r}")
        if note:
            warnings.warn(note, RuntimeWarning, stacklevel=3)
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
        options = ort.SessionOptions()
        custom_ops.register(options)
        options.intra_op_num_threads = used
        options.inter_op_num_threads = 1
        options.graph_optimization_level = {
            0: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            1: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            2: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        }.get(optimization, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        try:
            self._session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own, unexported exception types
            msg = f"cannot load {str(path)!r} as an ONNX model: {err}"
            raise ValueError(msg) from err
        self._input_names = [i.name for i in self._session.get_inputs()]
        self._known_inputs = frozenset(self._input_names)
        self._output_names = [o.name for o in self._session.get_outputs()]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        unknown = inputs.keys() - self._known_inputs
        if unknown:
            msg = f"model has no input(s) {sorted(unknown)}; its inputs are {self._input_names}"
            raise ValueError(msg)
        names = self._output_names
        return dict(zip(names, self._session.run(names, inputs), strict=True))

    def close(self) -> None:
        del self._session


class NativeBackend:
    """e2e_gnn's C++ Tagger, the one a reconstruction plugin runs: the spec, thread and
    input checks are the C++ ones (a model not marked thread_safe runs on 1 thread).

    ``run`` returns every output flat, by name, as the other backends do: [G, C] per graph,
    [N, C] per node (the Tagger splits node outputs per graph with the spec's level). A
    model reading graph features takes ``u`` [G, F_u] next to x, edge_index and batch."""

    def __init__(
        self,
        model_path: str | Path,
        threads: int = 1,
        device: str = "cpu",
        optimization: int = 99,
        verify_checksum: bool = True,
    ) -> None:
        native = load_native()
        path = Path(model_path)
        if not path.is_file():
            msg = f"model file {str(path)!r} does not exist"
            raise FileNotFoundError(msg)
        options = native.SessionOptions()
        options.verify_checksum = verify_checksum
        options.intra_op_threads = threads
        options.graph_optimization_level = optimization
        options.backend = native.Backend.cuda if device == "cuda" else native.Backend.cpu
        self._tagger = native.Tagger(str(path), options)
        self.metadata = dict(self._tagger.session.metadata)
        self._input_names = {name for name, _, _ in self._tagger.session.inputs}
        self._graph_model = self._tagger.is_graph_model

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if inputs.keys() != self._input_names:
            msg = f"model takes inputs {sorted(self._input_names)}, got {sorted(inputs)}"
            raise ValueError(msg)
        if self._graph_model:
            return self._tagger.run(
                inputs["x"], inputs["edge_index"], inputs["batch"], inputs.get("u")
            )
        return self._tagger.run_frames(inputs["frames"])

    def close(self) -> None:
        del self._tagger


def _triton_backend(
    model_path: str | Path,
    *,
    threads: int = 1,
    device: str = "cpu",
    fallback: Backend | str | None = None,
    verify_checksum: bool = True,
    **options: Any,
) -> Backend:
    """A Triton client of ``model_path``; ``fallback`` may name a local backend
    (``"onnxruntime"``, ``"native"``), built here with ``threads`` and ``device`` (the
    server's own threads are set in its config: ``e2e-gnn triton-repo --threads``)."""
    from e2e_gnn.runtime.triton_backend import TritonBackend

    if isinstance(fallback, str):
        local = {"onnxruntime": OnnxRuntimeBackend, "native": NativeBackend}
        if fallback not in local:
            msg = f"fallback {fallback!r} is not a local backend: use one of {sorted(local)}"
            raise ValueError(msg)
        fallback = local[fallback](
            model_path, threads=threads, device=device, verify_checksum=verify_checksum
        )
    return TritonBackend(  # type: ignore[return-value]
        model_path, fallback=fallback, verify_checksum=verify_checksum, **options
    )


BACKENDS = {
    "onnxruntime": OnnxRuntimeBackend,
    "native": NativeBackend,
    "triton": _triton_backend,
}
