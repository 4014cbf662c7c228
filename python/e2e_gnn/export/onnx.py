"""torch -> ONNX: dynamic graph/image counts, opset 18, metadata, parity before writing.

A model declares its outputs with a class attribute ``spec_outputs`` (a tuple of
:class:`~e2e_gnn.spec.TensorSpec`, per graph or per node, :func:`e2e_gnn.spec.node_output`)
and its forward returns one tensor per output in that order (a tuple when several), exported
as they are. A model without ``spec_outputs`` returns logits and is exported as class
probabilities (``scores``, see :class:`~e2e_gnn.nn.models.Scores`). A graph model whose
GraphSpec names graph features takes ``forward(x, edge_index, batch, u)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from e2e_gnn import __version__, custom_ops
from e2e_gnn.batch import Batch
from e2e_gnn.checksum import model_checksum
from e2e_gnn.export.lint import UnsupportedOperationError, find_unsupported_operations
from e2e_gnn.export.optimize import optimize
from e2e_gnn.export.parity import ParityReport, check_parity, parity_cases, training_scale
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.nn._fused_ops import fused_operators
from e2e_gnn.nn.models import Scores
from e2e_gnn.spec import (
    CHECKSUM_KEY,
    DYNAMIC_AXES,
    SPEC_KEY,
    VERSION_KEY,
    ModelSpec,
    TensorSpec,
    graph_inputs,
)

OPSET = 18


class ParityError(RuntimeError):
    """The exported model does not reproduce torch's outputs within tolerance."""

    def __init__(self, report: ParityReport) -> None:
        super().__init__(
            f"ONNX export disagrees with torch beyond {report.tolerance}; not written.\n"
            + report.table()
        )
        self.report = report


def graph_checksum(model: onnx.ModelProto) -> str:
    """sha256 of the model's graph (operators and weights), independent of metadata: the
    value e2e_gnn.checksum.verify_checksum recomputes from the file at load."""
    return model_checksum(model.SerializeToString())


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporters' chatter (missing torchvision ops, deprecations, axis renames):
    what matters about an export is checked by the parity check, not read from warnings."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnx_ir", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _torch_inputs(batch: Batch) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(array) for array in batch.inputs().values())


def export_spec(model: torch.nn.Module, spec: ModelSpec) -> ModelSpec:
    """``spec`` with the inputs and outputs an export of ``model`` has: the outputs the
    model's class declares (``spec_outputs``; else ``spec``'s own, GRAPH_OUTPUTS or
    FRAME_OUTPUTS), and for a graph model the inputs of its graph spec
    (:func:`e2e_gnn.spec.graph_inputs`: x, edge_index, batch, and u with graph features)."""
    declared = getattr(model, "spec_outputs", None)
    outputs = spec.outputs if declared is None else tuple(declared)
    if not outputs or not all(isinstance(t, TensorSpec) for t in outputs):
        msg = (
            f"{type(model).__name__}.spec_outputs must be a non-empty tuple of TensorSpec, "
            f"got {declared!r}"
        )
        raise ValueError(msg)
    inputs = spec.inputs if spec.graph is None else graph_inputs(spec.graph)
    return dataclasses.replace(spec, inputs=inputs, outputs=outputs)


class _Declared(torch.nn.Module):
    """A model that declares its outputs (``spec_outputs``), exported as it returns them."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return self.model(*inputs)


def _exported_module(model: torch.nn.Module) -> torch.nn.Module:
    wrapper = Scores if getattr(model, "spec_outputs", None) is None else _Declared
    return wrapper(model).eval()


def _check_example(spec: ModelSpec, example: Batch) -> None:
    """The example must be what the model takes (u for a model with graph features), and
    every dynamic axis >= 2: a 1 would be frozen into the model."""
    if isinstance(example, GraphBatch):
        example.validate(spec.num_features, spec.num_graph_features)
    for tensor, array in zip(spec.inputs, example.inputs().values(), strict=True):
        for axis, name in enumerate(tensor.shape):
            if name in DYNAMIC_AXES and array.shape[axis] < 2:
                msg = (
                    f"the export example's {tensor.name!r} has {array.shape[axis]} {name}: "
                    "every dynamic axis needs >= 2 nodes, edges and graphs (or images), "
                    "else the exporter freezes that size into the model"
                )
                raise ValueError(msg)


def _to_onnx(module: torch.nn.Module, spec: ModelSpec, example: Batch) -> onnx.ModelProto:
    input_names = [tensor.name for tensor in spec.inputs]
    output_names = [tensor.name for tensor in spec.outputs]
    axes = {
        tensor.name: {axis: name for axis, name in enumerate(tensor.shape) if name in DYNAMIC_AXES}
        for tensor in spec.inputs
    }
    output_axes = {
        tensor.name: {axis: name for axis, name in enumerate(tensor.shape) if name in DYNAMIC_AXES}
        for tensor in spec.outputs
    }
    dims = {name: torch.export.Dim(name) for name in DYNAMIC_AXES}
    args = _torch_inputs(example)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                module,
                args,
                dynamo=True,
                opset_version=OPSET,
                input_names=input_names,
                output_names=output_names,
                # Scores/_Declared.forward(*inputs): one entry, the tuple of per-input axes
                dynamic_shapes=(
                    tuple(
                        {axis: dims[dim] for axis, dim in by_axis.items()}
                        for by_axis in axes.values()
                    ),
                ),
                external_data=False,
                verbose=False,
                optimize=False,
            )
        assert program is not None
        optimize(program)
        return program.model_proto
    except (torch.onnx.errors.OnnxExporterError, RuntimeError) as err:
        warnings.warn(
            f"the dynamo exporter failed ({type(err).__name__}: {err}); falling back to the "
            "legacy TorchScript exporter, whose output the parity check verifies",
            RuntimeWarning,
            stacklevel=3,
        )
    buffer = io.BytesIO()
    with _quiet_exporter():
        torch.onnx.export(
            module,
            args,
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes={**axes, **output_axes},
        )
    return onnx.load_from_string(buffer.getvalue())


SCATTERS = ("ScatterND", "ScatterElements")


def _nodes(graph: onnx.GraphProto | onnx.FunctionProto) -> Iterator[onnx.NodeProto]:
    """Every node of ``graph``, including those of its subgraphs (If/Loop/Scan bodies)."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            for subgraph in (attribute.g, *attribute.graphs):
                yield from _nodes(subgraph)


def racy_reductions(model: onnx.ModelProto) -> list[str]:
    """The scatter nodes with a reduction (``ScatterND``/``ScatterElements`` whose
    ``reduction`` is not ``none``), as ``"name: op(reduction)"``, searched in the graph, its
    subgraphs and the model's functions. ONNX Runtime's CPU ScatterND reductions lose
    updates on more than one intra-op thread (microsoft/onnxruntime#18048); a model with
    none of these nodes is exact under any session options."""
    found = []
    for graph in (model.graph, *model.functions):
        for node in _nodes(graph):
            if node.op_type not in SCATTERS or node.domain not in ("", "ai.onnx"):
                continue
            attributes = {a.name: a.s.decode() for a in node.attribute if a.name == "reduction"}
            reduction = attributes.get("reduction", "none")
            if reduction != "none":
                found.append(f"{node.name}: {node.op_type}({reduction})")
    return found


def _with_metadata(model: onnx.ModelProto, spec: ModelSpec) -> onnx.ModelProto:
    entries = {
        SPEC_KEY: spec.to_json(),
        VERSION_KEY: __version__,
        CHECKSUM_KEY: graph_checksum(model),
    }
    kept = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    return model


def _parity_threads(thread_safe: bool) -> tuple[tuple[str, int | None], ...]:
    """(label, intra-op threads; None: ONNX Runtime's default) of the parity sessions."""
    if not thread_safe:
        return (("", 1),)
    return (("", 1), ("4 threads", 4), ("default options", None))


def _runner(
    session: ort.InferenceSession, outputs: list[str]
) -> Callable[[Batch], dict[str, np.ndarray]]:
    def run(batch: Batch) -> dict[str, np.ndarray]:
        return dict(zip(outputs, session.run(outputs, batch.inputs()), strict=True))

    return run


def _torch_outputs(module: torch.nn.Module, spec: ModelSpec, batch: Batch) -> dict[str, np.ndarray]:
    """The outputs of ``module`` on ``batch`` by the spec's output names, each checked
    against its declared level (one row per node, graph or image) and width."""
    with torch.no_grad():
        returned = module(*_torch_inputs(batch))
    tensors = returned if isinstance(returned, tuple | list) else (returned,)
    if len(tensors) != len(spec.outputs):
        names = [t.name for t in spec.outputs]
        msg = (
            f"the model returns {len(tensors)} tensor(s) but declares {len(names)} outputs "
            f"{names}: forward must return one tensor per output, in that order"
        )
        raise ValueError(msg)
    rows: dict[str | int, str | int] = {"graphs": len(batch), "images": len(batch)}
    if isinstance(batch, GraphBatch):
        rows["nodes"] = batch.num_nodes
    found = {}
    for tensor, value in zip(spec.outputs, tensors, strict=True):
        shape = tuple(value.shape)
        wanted = [rows.get(axis, axis) for axis in tensor.shape]
        fits = len(shape) == len(wanted) and all(
            not isinstance(w, int) or w == s for w, s in zip(wanted, shape, strict=True)
        )
        if not fits:
            msg = (
                f"output {tensor.name!r} is declared {list(tensor.shape)} but the model "
                f"returns {list(shape)} for {batch.describe()}"
            )
            raise ValueError(msg)
        found[tensor.name] = value.numpy()
    return found


def export_onnx(
    model: torch.nn.Module,
    spec: ModelSpec,
    path: str | Path,
    example: Batch,
    atol: float = 1e-5,
    rtol: float = 1e-6,
    fused_ops: bool = False,
) -> ParityReport:
    """Export ``model`` as a self-describing ONNX file at ``path``.

    A model without ``spec_outputs`` returns logits and the exported graph returns
    probabilities (``scores`` [G, C]); a model declaring ``spec_outputs`` is exported with
    those outputs as it returns them (:func:`export_spec` gives the spec written, from
    ``spec`` and the model). Node outputs get a dynamic node axis. The model is first run
    under a checker that names layers using operations which export wrongly; then, before
    anything is written, the ONNX model runs in ONNX Runtime on the parity cases and is
    compared with torch, every output: a difference above ``atol + rtol |torch|`` raises
    :class:`ParityError` and writes nothing (``rtol`` matters for regression outputs of
    hundreds of GeV; for scores in [0, 1] it adds at most 1e-6). BatchNorm and Dropout are
    exported in inference (eval) mode.

    The spec written into the file records ``thread_safe``: True when the graph has no
    scatter reduction (:func:`racy_reductions`), the default for every e2e_gnn layer. Such
    a model is checked with ONNX Runtime on 1 and 4 intra-op threads and with the default
    session options; a model exported under ``e2e_gnn.nn.scatternd_aggregation`` is
    checked on one thread, and its runtimes run it on one thread.

    ``fused_ops=True`` exports the aggregations as operators of e2e_gnn's ONNX domain
    ``ai.e2e_gnn`` (:mod:`e2e_gnn.nn._fused_ops`): faster, but only runtimes that load
    e2e_gnn's custom operator library run the file (all of e2e_gnn's do). The parity check
    runs it with that library, exactly as for the plain export.
    """
    spec = export_spec(model, spec)
    _check_example(spec, example)
    scored = _exported_module(model)
    problems = find_unsupported_operations(scored, _torch_inputs(example))
    if problems:
        raise UnsupportedOperationError(problems)
    _torch_outputs(scored, spec, example)  # outputs as declared, before the exporter runs
    with torch.no_grad(), fused_operators() if fused_ops else contextlib.nullcontext():
        exported = _to_onnx(scored, spec, example)
    spec = dataclasses.replace(spec, thread_safe=not racy_reductions(exported))
    serialized = _with_metadata(exported, spec).SerializeToString()
    output_names = [tensor.name for tensor in spec.outputs]

    def run_torch(batch: Batch) -> dict[str, np.ndarray]:
        return _torch_outputs(scored, spec, batch)

    report = None
    for label, threads in _parity_threads(spec.thread_safe):
        options = ort.SessionOptions()
        custom_ops.register(options)
        if threads is not None:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
        run_onnx = _runner(session, output_names)
        cases = parity_cases(spec, example, scale=training_scale(model))
        checked = check_parity(run_torch, run_onnx, cases, atol, spec.outputs, rtol=rtol)
        if label:
            checked = checked.labelled(label)
        report = checked if report is None else report.merged(checked)
    assert report is not None
    if not report.passed:
        raise ParityError(report)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_bytes(serialized)
    partial.replace(path)
    return report
