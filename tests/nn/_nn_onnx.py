"""ONNX round trip for the nn tests: dynamo export (opset 18, dynamic N/E) then ORT vs torch."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch.export import Dim


def export_model(
    module: torch.nn.Module,
    args: dict[str, torch.Tensor],
    dynamic: dict[str, dict[int, str]],
) -> onnx.ModelProto:
    """Exports ``module(**args)`` with the dynamo exporter, opset 18, and the named dynamic
    axes. ``dynamic`` maps argument name -> {axis: dim name}; every example size on a dynamic
    axis must be >= 2."""
    dims: dict[str, Dim] = {}
    shapes = {
        name: {axis: dims.setdefault(d, Dim(d, min=0)) for axis, d in axes.items()}
        for name, axes in dynamic.items()
    }
    for name in args:
        shapes.setdefault(name, {})
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            module.eval(),
            (),
            str(path),
            kwargs=args,
            dynamo=True,
            opset_version=18,
            dynamic_shapes=shapes,
            external_data=False,
            verbose=False,
        )
        return onnx.load(str(path))


def open_session(model: onnx.ModelProto) -> ort.InferenceSession:
    """An ONNX Runtime CPU session with one thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def export(
    module: torch.nn.Module,
    args: dict[str, torch.Tensor],
    dynamic: dict[str, dict[int, str]],
) -> ort.InferenceSession:
    """:func:`export_model` then :func:`open_session`."""
    return open_session(export_model(module, args, dynamic))


def max_error(
    session: ort.InferenceSession, module: torch.nn.Module, args: dict[str, torch.Tensor]
) -> float:
    """Largest absolute difference between ORT and torch for ``module(**args)``."""
    wanted = {i.name for i in session.get_inputs()}
    feeds = {k: v.numpy() for k, v in args.items() if k in wanted}
    got = session.run(None, feeds)[0]
    with torch.no_grad():
        ref = module.eval()(**args).numpy()
    assert got.shape == ref.shape, f"ORT shape {got.shape} != torch shape {ref.shape}"
    return float(np.abs(got - ref).max()) if ref.size else 0.0
