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

from e2e_gnn import custom_ops


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


def open_session(
    model: onnx.ModelProto, threads: int | None = 1, optimize: bool = True
) -> ort.InferenceSession:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads (None: ONNX Runtime's
    default options, as a plain ``InferenceSession(path)`` has them), with or without graph
    optimisations."""
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    custom_ops.register(options)  # for models exported with fused operators
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


SESSIONS = ((1, True), (2, True), (None, True), (2, False))  # (threads, graph optimisations)


def assert_exact_on_any_threads(
    model: onnx.ModelProto,
    module: torch.nn.Module,
    cases: list[dict[str, torch.Tensor]],
    runs: int = 5,
) -> None:
    """The model has no scatter reduction and gives the same numbers on 1, 2 and the
    default number of intra-op threads (and without graph optimisations), ``runs`` times
    each: within 1e-6 of each other and 1e-5 of torch on every case."""
    from e2e_gnn.export import racy_reductions

    assert racy_reductions(model) == []
    sessions = [open_session(model, threads, optimize) for threads, optimize in SESSIONS]
    for args in cases:
        with torch.no_grad():
            ref = module.eval()(**args).numpy()
        outputs = []
        for session in sessions:
            wanted = {i.name for i in session.get_inputs()}
            feeds = {k: v.numpy() for k, v in args.items() if k in wanted}
            outputs += [session.run(None, feeds)[0] for _ in range(runs)]
        shape = {name: tuple(value.shape) for name, value in args.items()}
        for got in outputs:
            assert got.shape == ref.shape, shape
            np.testing.assert_allclose(got, outputs[0], atol=1e-6, rtol=0, err_msg=str(shape))
            np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0, err_msg=str(shape))
