"""torch -> ONNX: dynamic nodes/edges/graphs, opset 18, metadata, parity before writing."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from e2e_gnn import __version__
from e2e_gnn.export.parity import ParityReport, check_parity, parity_cases
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.nn.models import Scores
from e2e_gnn.spec import CHECKSUM_KEY, SPEC_KEY, VERSION_KEY, ModelSpec

OPSET = 18


class ParityError(RuntimeError):
    """The exported model does not reproduce torch's outputs within tolerance."""

    def __init__(self, report: ParityReport) -> None:
        super().__init__(
            f"ONNX export disagrees with torch beyond atol={report.atol:g}; not written.\n"
            + report.table()
        )
        self.report = report


def graph_checksum(model: onnx.ModelProto) -> str:
    """sha256 of the model's graph (operators and weights), independent of metadata."""
    return hashlib.sha256(model.graph.SerializeToString(deterministic=True)).hexdigest()


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


def _torch_inputs(batch: GraphBatch) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in batch.inputs().values())


def _to_onnx(module: torch.nn.Module, example: GraphBatch) -> onnx.ModelProto:
    if example.num_nodes < 2 or example.num_edges < 2 or example.num_graphs < 2:
        msg = (
            "the export example needs >= 2 nodes, edges and graphs (a size of 1 would be "
            f"frozen into the model); got {example.num_nodes} nodes, {example.num_edges} "
            f"edges, {example.num_graphs} graphs"
        )
        raise ValueError(msg)
    nodes, edges = torch.export.Dim("nodes"), torch.export.Dim("edges")
    args = _torch_inputs(example)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                module,
                args,
                dynamo=True,
                opset_version=OPSET,
                input_names=["x", "edge_index", "batch"],
                output_names=["scores"],
                dynamic_shapes={"x": {0: nodes}, "edge_index": {1: edges}, "batch": {0: nodes}},
                external_data=False,
                verbose=False,
            )
        assert program is not None
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
            input_names=["x", "edge_index", "batch"],
            output_names=["scores"],
            dynamic_axes={"x": {0: "nodes"}, "edge_index": {1: "edges"}, "batch": {0: "nodes"}},
        )
    return onnx.load_from_string(buffer.getvalue())


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


def export_onnx(
    model: torch.nn.Module,
    spec: ModelSpec,
    path: str | Path,
    example: GraphBatch,
    atol: float = 1e-5,
) -> ParityReport:
    """Export ``model`` (returning logits) as a self-describing ONNX file at ``path``.

    The exported graph returns probabilities (``scores`` [G, C]). Before anything is
    written, the ONNX model runs in ONNX Runtime on the parity cases and is compared with
    torch; a difference above ``atol`` raises :class:`ParityError` and writes nothing.
    """
    if spec.graph is None:
        msg = f"spec {spec.name!r} has no graph spec: export_onnx exports graph models"
        raise ValueError(msg)
    scored = Scores(model).eval()
    with torch.no_grad():
        onnx_model = _with_metadata(_to_onnx(scored, example), spec)
    serialized = onnx_model.SerializeToString()
    session = ort.InferenceSession(serialized, providers=["CPUExecutionProvider"])

    def run_torch(batch: GraphBatch) -> np.ndarray:
        with torch.no_grad():
            return scored(*_torch_inputs(batch)).numpy()

    def run_onnx(batch: GraphBatch) -> np.ndarray:
        return session.run(["scores"], batch.inputs())[0]

    report = check_parity(run_torch, run_onnx, parity_cases(spec.graph, example), atol)
    if not report.passed:
        raise ParityError(report)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_bytes(serialized)
    partial.replace(path)
    return report
