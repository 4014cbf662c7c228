"""Torch vs ONNX Runtime parity on a set of inputs chosen to break exports.

For graph models the cases cover what exporters get wrong: a graph without edges, a single
node, graphs smaller than k, a graph far larger than the export example (frozen shapes),
many graphs in one batch. For frame (CNN) models: one image, a few, many. Every case with
more than one graph or image runs again in shuffled order and is compared item by item,
which catches outputs that depend on padding or on the order of a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from e2e_gnn.batch import Batch
from e2e_gnn.frames.batch import FrameBatch
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.from_frames import graphs_from_points
from e2e_gnn.graphs.synthetic import graphs_from_features, random_features
from e2e_gnn.spec import GraphSpec, ModelSpec

Predict = Callable[[Batch], np.ndarray]


@dataclass(frozen=True)
class ParityRow:
    case: str
    inputs: str
    max_abs_diff: float
    passed: bool


@dataclass(frozen=True)
class ParityReport:
    rows: tuple[ParityRow, ...]
    atol: float

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def max_abs_diff(self) -> float:
        return max(row.max_abs_diff for row in self.rows)

    def labelled(self, label: str) -> ParityReport:
        """The same rows with ``[label]`` after each case name (e.g. a thread count)."""
        rows = tuple(
            ParityRow(f"{row.case} [{label}]", row.inputs, row.max_abs_diff, row.passed)
            for row in self.rows
        )
        return ParityReport(rows, self.atol)

    def merged(self, other: ParityReport) -> ParityReport:
        return ParityReport(self.rows + other.rows, self.atol)

    def table(self) -> str:
        width = max([26, *(len(row.case) + 2 for row in self.rows)])
        lines = [f"{'case':<{width}}{'inputs':<35}max |torch - onnx|"]
        for row in self.rows:
            verdict = "ok" if row.passed else f"FAIL (> {self.atol:g})"
            lines.append(f"{row.case:<{width}}{row.inputs:<35}{row.max_abs_diff:<10.3g}{verdict}")
        return "\n".join(lines)


DEFAULT_EXAMPLE_SIZES = (24, 40, 17)


FRAME_OCCUPANCY = 0.05


def sparse_frames(rng: np.random.Generator, num_frames: int, shape: tuple[int, ...]) -> np.ndarray:
    """Detector-like frames float32 [B, *shape]: ``FRAME_OCCUPANCY`` of the pixels hold
    exponential energies, the rest are zero. Dense random frames would drive a trained
    tagger to saturated scores, where any two models agree and parity proves nothing."""
    energies = rng.exponential(1.0, size=(num_frames, *shape))
    occupied = rng.random((num_frames, *shape)) < FRAME_OCCUPANCY
    return np.where(occupied, energies, 0.0).astype(np.float32)


# threshold-graph cases: Gaussian coordinates joined within this distance (a few neighbours)
CASE_THRESHOLD = 0.7


def _graphs(features: list[np.ndarray], graph: GraphSpec) -> GraphBatch:
    """Graphs of ``features`` wired as ``graph`` says. Specs whose edges the deployment
    passes in (``threshold``: the distances are not in a GraphSpec; ``given``) get
    threshold edges over the spec's coordinate columns and its ``layer`` column (rounded),
    ``CASE_THRESHOLD`` apart: what matters to parity is that the edges vary per graph."""
    if graph.builder == "knn":
        return graphs_from_features(features, graph)
    x = np.concatenate(features)
    columns = [graph.feature_names.index(name) for name in graph.coordinates] or [0]
    layer = (
        np.abs(np.round(x[:, graph.feature_names.index("layer")])).astype(np.int64)
        if "layer" in graph.feature_names
        else np.zeros(len(x), dtype=np.int64)
    )
    ptr = np.concatenate([[0], np.cumsum([len(f) for f in features])])
    return graphs_from_points(
        x,
        np.ascontiguousarray(x[:, columns]),
        ptr,
        edges="threshold",
        layer=layer,
        same_layer=CASE_THRESHOLD,
        adjacent_layer=CASE_THRESHOLD,
    )


def default_example(
    spec: ModelSpec, seed: int = 0, sizes: tuple[int, ...] = DEFAULT_EXAMPLE_SIZES
) -> Batch:
    """A random export example: one graph per entry of ``sizes`` (its node count), built as
    the graph spec says, or ``len(sizes)`` frames of the frame spec's shape. Every dynamic
    axis must come out >= 2 (export_onnx checks)."""
    rng = np.random.default_rng(seed)
    if spec.graph is not None:
        features = random_features(rng, list(sizes), len(spec.graph.feature_names))
        return _graphs(features, spec.graph)
    if spec.frame_shape is not None:
        return FrameBatch(sparse_frames(rng, len(sizes), spec.frame_shape))
    msg = f"model spec {spec.name!r} has neither a graph nor a frame spec"
    raise ValueError(msg)


def _graph_cases(graph: GraphSpec, example: GraphBatch, rng: np.random.Generator) -> dict:
    num_features = example.x.shape[1]
    k = graph.k or 8
    largest = int(np.bincount(example.batch).max())
    sizes = {
        "single node": [1],
        "no edges": [1, 1, 1],
        "smaller than k": [2, max(2, k // 2), k],
        "larger than example": [max(4 * largest, 300)],
        "many graphs": [int(n) for n in rng.integers(1, 3 * k, size=24)],
    }
    return {
        name: _graphs(random_features(rng, graph_sizes, num_features), graph)
        for name, graph_sizes in sizes.items()
    }


def parity_cases(spec: ModelSpec, example: Batch, seed: int = 0) -> dict[str, Batch]:
    """Named input batches for the parity check of a model with this spec."""
    rng = np.random.default_rng(seed)
    cases: dict[str, Batch] = {"export example": example}
    if isinstance(example, GraphBatch) and spec.graph is not None:
        cases.update(_graph_cases(spec.graph, example, rng))
    elif isinstance(example, FrameBatch):
        shape = example.frames.shape[1:]
        for name, count in (("one image", 1), ("two images", 2), ("many images", 17)):
            cases[name] = FrameBatch(rng.random((count, *shape), dtype=np.float32))
    return cases


def check_parity(
    reference: Predict, candidate: Predict, cases: dict[str, Batch], atol: float, seed: int = 0
) -> ParityReport:
    """Compare per-item outputs of ``candidate`` with ``reference`` on every case.

    Each case with several graphs or images is also run by the candidate in shuffled
    order and compared item by item, so a model whose outputs depend on batch order fails.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for name, batch in cases.items():
        expected = reference(batch)
        runs = [(name, batch, expected)]
        if len(batch) > 1:
            order = rng.permutation(len(batch))
            runs.append((f"{name}, shuffled", batch.select(order.tolist()), expected[order]))
        for label, inputs, wanted in runs:
            got = candidate(inputs)
            diff = float(np.max(np.abs(wanted - got))) if got.shape == wanted.shape else np.inf
            rows.append(ParityRow(label, inputs.describe(), diff, diff <= atol))
    return ParityReport(tuple(rows), atol)
