"""What the Triton client and the served models agree on: tensor names, dtypes, outputs.

The served GNN takes the model's own inputs (``x``, ``edge_index``, ``batch``); the hits
ensemble written by ``e2e_gnn.triton`` takes :data:`HITS_INPUTS`. Every answer is checked
by :func:`check_outputs` against the model's spec before the client returns it: an output
missing, of another dtype or rank, or with a row count other than one per graph (or node,
or image, as the spec's output axis says) is a :class:`TritonModelError`, not a silently
truncated or misaligned result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from e2e_gnn.model_file import ModelFile
from e2e_gnn.runtime.triton_errors import TritonModelError
from e2e_gnn.spec import FRAME_INPUTS, GRAPH_INPUTS, TensorSpec

#: config parameter naming the rows of each output (see :func:`output_rows`)
OUTPUT_ROWS_KEY = "e2e_gnn.output_rows"
#: inputs of the hits ensemble: hit features [N, F] and the sorted graph id of each hit
HITS_INPUTS = ("hits", "hits_batch")

#: numpy dtype -> Triton data type name
TRITON_DTYPES: dict[np.dtype[Any], str] = {
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
    np.dtype(np.float16): "FP16",
    np.dtype(np.int64): "INT64",
    np.dtype(np.int32): "INT32",
    np.dtype(np.bool_): "BOOL",
}
_NUMPY_DTYPES = {triton: dtype.name for dtype, triton in TRITON_DTYPES.items()}

# (node input, graph-id input) of the graph inputs and of the hits ensemble
_GRAPH_LIKE = ((GRAPH_INPUTS[0].name, GRAPH_INPUTS[2].name), HITS_INPUTS)


def expected_outputs(model: ModelFile) -> tuple[TensorSpec, ...]:
    """The outputs served for ``model``: names and dtypes from the file; per axis the
    file's static size, else the spec's axis name (``"graphs"``, ``"nodes"``, ...)."""
    named = {t.name: t.shape for t in model.spec.outputs}
    expected = []
    for tensor in model.outputs:
        axes = named.get(tensor.name, tensor.shape)
        if len(axes) != len(tensor.shape):
            axes = tensor.shape
        pairs = zip(tensor.shape, axes, strict=True)
        shape = tuple(d if isinstance(d, int) else a for d, a in pairs)
        expected.append(TensorSpec(tensor.name, tensor.dtype, shape))
    return tuple(expected)


def output_rows(model: ModelFile) -> str:
    """The config parameter :data:`OUTPUT_ROWS_KEY`: JSON ``{output: first axis name}``
    (``"nodes"``, ``"graphs"``, ...), so that a client without the local export still knows
    which outputs have one row per node."""
    rows = {t.name: t.shape[0] for t in expected_outputs(model) if t.shape}
    return json.dumps({name: axis for name, axis in rows.items() if isinstance(axis, str)})


def served_outputs(
    metadata: Mapping[str, Any], rows: Mapping[str, str] | None = None
) -> tuple[TensorSpec, ...]:
    """The outputs a server's model metadata declares (-1 axes become ``"?"``; a first axis
    named in ``rows``, the config's :data:`OUTPUT_ROWS_KEY`, takes that name)."""
    served = []
    for t in metadata.get("outputs", []):
        shape: list[int | str] = [int(d) if int(d) >= 0 else "?" for d in t["shape"]]
        if shape and shape[0] == "?" and rows and str(t["name"]) in rows:
            shape[0] = rows[str(t["name"])]
        dtype = _NUMPY_DTYPES.get(str(t["datatype"]), str(t["datatype"]))
        served.append(TensorSpec(str(t["name"]), dtype, tuple(shape)))
    return tuple(served)


def request_axes(inputs: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Sizes of the output axes a request fixes: ``nodes`` and ``graphs`` (graph inputs or
    hits: graphs = largest graph id + 1), ``images`` (frames)."""
    axes: dict[str, int] = {}
    for nodes, ids in _GRAPH_LIKE:
        if nodes in inputs:
            axes["nodes"] = len(inputs[nodes])
        if ids in inputs:
            graph_ids = np.asarray(inputs[ids])
            axes["graphs"] = int(graph_ids.max()) + 1 if graph_ids.size else 0
    frames = FRAME_INPUTS[0].name
    if frames in inputs:
        axes["images"] = len(inputs[frames])
    return axes


def check_outputs(
    outputs: Mapping[str, np.ndarray | None],
    expected: Sequence[TensorSpec],
    axes: Mapping[str, int],
    where: str,
) -> dict[str, np.ndarray]:
    """``outputs`` if each ``expected`` tensor is there with its dtype and shape (ints are
    sizes, names in ``axes`` are the request's sizes, other names any size), else raise
    TritonModelError naming the output, what came and what was expected."""
    checked = {}
    for tensor in expected:
        array = outputs.get(tensor.name)
        if array is None:
            msg = f"{where} returned no output {tensor.name!r} (got {sorted(outputs)!r})"
            raise TritonModelError(msg)
        if tensor.dtype and array.dtype != np.dtype(tensor.dtype):
            msg = f"{where} returned {tensor.name!r} as {array.dtype}, expected {tensor.dtype}"
            raise TritonModelError(msg)
        sizes = [axes.get(d, -1) if isinstance(d, str) else d for d in tensor.shape]
        if array.ndim != len(sizes) or any(
            s >= 0 and n != s for n, s in zip(array.shape, sizes, strict=True)
        ):
            want = ", ".join(
                f"{d}={s}" if isinstance(d, str) and s >= 0 else str(d)
                for d, s in zip(tensor.shape, sizes, strict=True)
            )
            rows = tensor.shape[0] if tensor.shape else None
            why = f"; one row per {rows[:-1]}" if isinstance(rows, str) and rows in axes else ""
            msg = (
                f"{where} returned {tensor.name!r} with shape {array.shape!r}, expected "
                f"({want}){why}: the server's answer does not fit the request"
            )
            raise TritonModelError(msg)
        checked[tensor.name] = array
    return checked
