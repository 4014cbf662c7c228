"""Reduced-precision copies of an exported float32 model, checked in physics terms.

``e2e-gnn export-onnx --precision int8|fp16`` first exports and parity-checks the float32
model as always, then derives the reduced model from that file with ONNX Runtime's own
tools, runs both through the :class:`~e2e_gnn.runtime.tagger.Tagger` over a labelled
validation file (a graph or frames file of the kind ``e2e-gnn train`` reads) and writes the
reduced model only when the largest score difference and the ROC AUC change stay within the
user's tolerances. The written model records its precision and that measurement under the
metadata key :data:`PRECISION_KEY`; its checksum covers the reduced graph.

- ``int8``: :func:`onnxruntime.quantization.quantize_dynamic`: every MatMul/Gemm (and CNN
  Conv) weight stored as int8 (per tensor), activations quantised to uint8 per call
  (``DynamicQuantizeLinear`` + ``MatMulInteger``/``ConvInteger``); the rest of the graph
  stays float32.
- ``fp16``: :func:`onnxruntime.transformers.float16.convert_float_to_float16` with float32
  inputs and outputs kept. ONNX Runtime's CPU execution provider has no float16 MatMul/Gemm
  kernels on x86 and inserts casts to float32 around them: the file is half the size, the
  arithmetic float32 on float16-rounded values, and it runs slower than float32 on CPU.
- ``bf16`` is refused: the CPU execution provider has no bfloat16 MatMul/Gemm kernels, so
  such a model does not load (NOT_IMPLEMENTED). See docs/precision.md for the measurements.

Only taggers are supported: the primary output must be per-graph (or per-image) class
probabilities ``scores``, whose AUC against the file's ``label`` column is the physics
check. Node-level and regression models are refused (no AUC states their accuracy).
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from e2e_gnn.export.onnx import graph_checksum
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.runtime.many_files import model_inputs
from e2e_gnn.runtime.tagger import Tagger
from e2e_gnn.spec import CHECKSUM_KEY, ModelSpec
from e2e_gnn.train.metrics import roc_auc

__all__ = [
    "DEFAULT_MAX_AUC_CHANGE",
    "DEFAULT_MAX_SCORE_DIFF",
    "PRECISIONS",
    "PRECISION_KEY",
    "PhysicsCheck",
    "PrecisionError",
    "ToleranceError",
    "ValidationSample",
    "check_supported",
    "physics_check",
    "read_validation",
    "reduced_graph",
    "with_metadata_of",
    "write_reduced",
]

PRECISION_KEY = "e2e_gnn.precision"
#: the precisions export-onnx derives from the float32 model
REDUCED = ("int8", "fp16")
PRECISIONS = ("float32", *REDUCED, "bf16")
DEFAULT_MAX_SCORE_DIFF = 1e-2
DEFAULT_MAX_AUC_CHANGE = 1e-3

METHODS = {
    "int8": "onnxruntime.quantization.quantize_dynamic: MatMul/Gemm/Conv weights int8 per "
    "tensor, activations uint8 per call",
    "fp16": "onnxruntime.transformers.float16.convert_float_to_float16, float32 inputs and "
    "outputs kept",
}
BF16_REFUSAL = (
    "--precision bf16: ONNX Runtime's CPU execution provider has no bfloat16 MatMul/Gemm "
    "kernels, so a bf16 model would not load (NOT_IMPLEMENTED); use --precision fp16 (float16 "
    "weights and activations, float32 arithmetic on CPU) or --precision int8"
)


class PrecisionError(ValueError):
    """A reduced precision that cannot be made or checked for this model or file."""


class ToleranceError(RuntimeError):
    """The reduced model differs from float32 beyond the user's tolerance: not written."""

    def __init__(self, check: PhysicsCheck) -> None:
        super().__init__(check.verdict())
        self.check = check


@dataclass(frozen=True)
class ValidationSample:
    """A labelled validation file read as the model's inputs (the loaders of ``infer``)."""

    path: Path
    inputs: GraphBatch | np.ndarray
    labels: np.ndarray

    @property
    def what(self) -> str:
        return "graphs" if isinstance(self.inputs, GraphBatch) else "frames"


def check_supported(spec: ModelSpec, precision: str) -> None:
    """Refuse (PrecisionError, one line) a precision this model cannot get: bf16 anywhere,
    and any reduced precision for a model whose primary output is not per-graph (or
    per-image) class probabilities ``scores``."""
    if precision == "bf16":
        raise PrecisionError(BF16_REFUSAL)
    if precision not in REDUCED:
        msg = f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}"
        raise PrecisionError(msg)
    primary = spec.outputs[0]
    if primary.name != "scores" or primary.per_node:
        msg = (
            f"--precision {precision}: {spec.name!r} is not a tagger (its first output is "
            f"{primary.name!r} {list(primary.shape)}); the reduced-precision check compares "
            "per-graph class probabilities 'scores' and their AUC, which node-level and "
            "regression models do not have"
        )
        raise PrecisionError(msg)


def read_validation(spec: ModelSpec, path: str | Path) -> ValidationSample:
    """The model's inputs and labels in ``path``, read as ``e2e-gnn infer`` reads it;
    PrecisionError when it has no ``label`` column or not both classes among labels 0/1
    (the file's own errors, e.g. a frames file given to a graph model, pass through)."""
    path = Path(path)
    inputs, columns = model_inputs(spec, path)
    labels = columns.get("label")
    if labels is None:
        msg = (
            f"validation file {str(path)!r} has no 'label' column: give a labelled graph or "
            "frames file (e.g. `e2e-gnn train`'s validation_graphs.root)"
        )
        raise PrecisionError(msg)
    labels = np.asarray(labels)
    if not ((labels == 0).any() and (labels == 1).any()):
        msg = (
            f"validation file {str(path)!r} needs graphs of both labels 0 and 1 for the AUC "
            f"(it has {int((labels == 0).sum())} of label 0, {int((labels == 1).sum())} of "
            "label 1)"
        )
        raise PrecisionError(msg)
    return ValidationSample(path, inputs, labels)


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """ONNX Runtime's quantiser logs advice ("consider pre-processing") on the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def reduced_graph(float32: Path, precision: str, work: Path) -> onnx.ModelProto:
    """The ``precision`` version of the exported float32 model at ``float32``, with its
    metadata kept and its checksum recomputed for the new graph (``work``: a scratch dir)."""
    source = onnx.load(str(float32))
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantized = work / "int8.onnx"
        with _quiet_quantizer():
            quantize_dynamic(float32, quantized, weight_type=QuantType.QInt8)
        model = onnx.load(str(quantized))
    else:
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(source, keep_io_types=True)
    return with_metadata_of(model, source)


def with_metadata_of(model: onnx.ModelProto, source: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with the metadata of ``source``, the model it was derived from, and the
    checksum of its own graph."""
    del model.metadata_props[:]
    for entry in source.metadata_props:
        value = graph_checksum(model) if entry.key == CHECKSUM_KEY else entry.value
        model.metadata_props.add(key=entry.key, value=value)
    return model


@dataclass(frozen=True)
class PhysicsCheck:
    """Float32 vs reduced model on a labelled validation file."""

    precision: str
    file: str
    items: int
    what: str
    max_score_diff: float
    auc_float32: float
    auc_reduced: float
    tolerance_score_diff: float
    tolerance_auc_change: float

    @property
    def auc_change(self) -> float:
        return self.auc_reduced - self.auc_float32

    @property
    def score_ok(self) -> bool:
        return self.max_score_diff <= self.tolerance_score_diff

    @property
    def auc_ok(self) -> bool:
        return abs(self.auc_change) <= self.tolerance_auc_change

    @property
    def passed(self) -> bool:
        return self.score_ok and self.auc_ok

    def table(self) -> str:
        def verdict(ok: bool, limit: float) -> str:
            return "ok" if ok else f"FAIL (> {limit:g})"

        lines = [
            f"float32 vs {self.precision} on {self.file} ({self.items} {self.what})",
            f"{'largest |score difference|':<28}{self.max_score_diff:<12.3g}"
            f"{verdict(self.score_ok, self.tolerance_score_diff)}",
            f"{'ROC AUC float32':<28}{self.auc_float32:.5f}",
            f"{'ROC AUC ' + self.precision:<28}{self.auc_reduced:.5f}",
            f"{'AUC change':<28}{self.auc_change:<+12.2g}"
            f"{verdict(self.auc_ok, self.tolerance_auc_change)}",
        ]
        return "\n".join(lines)

    def verdict(self) -> str:
        failed = []
        if not self.score_ok:
            failed.append(
                f"largest |score difference| {self.max_score_diff:.3g} > "
                f"--max-score-diff {self.tolerance_score_diff:g}"
            )
        if not self.auc_ok:
            failed.append(
                f"AUC change {self.auc_change:+.2g} beyond --max-auc-change "
                f"{self.tolerance_auc_change:g}"
            )
        if not failed:
            return f"{self.precision} model within tolerance on {self.file}"
        return (
            f"the {self.precision} model differs from float32 on {self.file}: "
            f"{'; '.join(failed)}; not written"
        )

    def record(self) -> dict[str, Any]:
        """What the written model's :data:`PRECISION_KEY` metadata holds."""
        return {
            "precision": self.precision,
            "method": METHODS[self.precision],
            "validation": {
                "file": self.file,
                self.what: self.items,
                "max_score_diff": self.max_score_diff,
                "auc_float32": self.auc_float32,
                "auc": self.auc_reduced,
                "auc_change": self.auc_change,
                "max_score_diff_allowed": self.tolerance_score_diff,
                "max_auc_change_allowed": self.tolerance_auc_change,
            },
        }


def _signal_scores(scores: np.ndarray) -> np.ndarray:
    """Probability of label 1: the one column of a sigmoid tagger, else column 1."""
    return scores[:, 0] if scores.shape[1] == 1 else scores[:, 1]


def _scores(model: Path, sample: ValidationSample) -> np.ndarray:
    with Tagger(model, backend="onnxruntime") as tagger:
        return np.asarray(tagger.score(sample.inputs))


def _does_not_run(precision: str, err: Exception) -> PrecisionError:
    first = (str(err).strip().splitlines() or [""])[0]
    msg = (
        f"the {precision} model could not be made or run in ONNX Runtime "
        f"({type(err).__name__}: {first}); not written"
    )
    return PrecisionError(msg)


def physics_check(
    float32: Path,
    reduced: Path,
    precision: str,
    sample: ValidationSample,
    max_score_diff: float,
    max_auc_change: float,
) -> PhysicsCheck:
    """Both models over ``sample`` through the Tagger (onnxruntime backend): the largest
    |score difference| over every graph and class, and the AUC of label 1 against the
    rest over the graphs labelled 0 or 1."""
    scores = [_scores(float32, sample)]
    try:
        scores.append(_scores(reduced, sample))
    except Exception as err:  # onnxruntime's errors derive from Exception only
        raise _does_not_run(precision, err) from err
    labelled = (sample.labels == 0) | (sample.labels == 1)
    auc_float32, auc_reduced = (
        roc_auc(sample.labels[labelled] == 1, _signal_scores(s)[labelled]) for s in scores
    )
    return PhysicsCheck(
        precision=precision,
        file=sample.path.name,
        items=len(sample.labels),
        what=sample.what,
        max_score_diff=float(np.max(np.abs(scores[1] - scores[0]))),
        auc_float32=auc_float32,
        auc_reduced=auc_reduced,
        tolerance_score_diff=max_score_diff,
        tolerance_auc_change=max_auc_change,
    )


def write_reduced(
    float32: Path,
    out: Path,
    precision: str,
    sample: ValidationSample,
    max_score_diff: float = DEFAULT_MAX_SCORE_DIFF,
    max_auc_change: float = DEFAULT_MAX_AUC_CHANGE,
) -> PhysicsCheck:
    """Derive the ``precision`` model from the exported float32 model ``float32``, check it
    against float32 on ``sample`` and write it to ``out`` with its :data:`PRECISION_KEY`
    record; raise ToleranceError (nothing written) beyond the tolerances."""
    check_supported(ModelSpec.from_metadata(_metadata(float32)), precision)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            model = reduced_graph(float32, precision, work)
        except Exception as err:  # the quantiser raises many types on graphs it cannot take
            raise _does_not_run(precision, err) from err
        candidate = work / "reduced.onnx"
        onnx.save_model(model, str(candidate))
        check = physics_check(float32, candidate, precision, sample, max_score_diff, max_auc_change)
    if not check.passed:
        raise ToleranceError(check)
    model.metadata_props.add(key=PRECISION_KEY, value=json.dumps(check.record()))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(out.suffix + ".partial")
    partial.write_bytes(model.SerializeToString())
    partial.replace(out)
    return check


def _metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
