"""Torch vs ONNX Runtime parity on a set of inputs chosen to break exports.

For graph models the cases cover what exporters get wrong: a graph without edges, a single
node, graphs smaller than k, a graph far larger than the export example (frozen shapes),
many graphs in one batch. For frame (CNN) models: one image, a few, many. Every case with
more than one graph or image runs again in shuffled order and is compared item by item,
which catches outputs that depend on padding or on the order of a batch. Every output of
the model is compared: per-graph outputs row by row, per-node outputs node by node (in a
shuffled batch, after putting the nodes back in the original order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from e2e_gnn.batch import Batch
from e2e_gnn.frames.batch import FrameBatch
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.from_frames import graphs_from_points
from e2e_gnn.graphs.synthetic import graphs_from_features, random_features
from e2e_gnn.ragged import Ragged
from e2e_gnn.spec import GraphSpec, ModelSpec, TensorSpec

# every output of a model on a batch, by output name
Predict = Callable[[Batch], dict[str, np.ndarray]]


@dataclass(frozen=True)
class ParityRow:
    case: str
    inputs: str
    max_abs_diff: float
    passed: bool
    output: str = "scores"


@dataclass(frozen=True)
class ParityReport:
    rows: tuple[ParityRow, ...]
    atol: float
    # an output passes when |torch - onnx| <= atol + rtol * |torch| everywhere
    rtol: float = 0.0

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def max_abs_diff(self) -> float:
        return max(row.max_abs_diff for row in self.rows)

    def labelled(self, label: str) -> ParityReport:
        """The same rows with ``[label]`` after each case name (e.g. a thread count)."""
        rows = tuple(dataclasses.replace(row, case=f"{row.case} [{label}]") for row in self.rows)
        return ParityReport(rows, self.atol, self.rtol)

    def merged(self, other: ParityReport) -> ParityReport:
        return ParityReport(self.rows + other.rows, self.atol, self.rtol)

    @property
    def tolerance(self) -> str:
        return f"{self.atol:g}" + (f" + {self.rtol:g} |torch|" if self.rtol else "")

    def table(self) -> str:
        width = max([26, *(len(row.case) + 2 for row in self.rows)])
        named = max([8, *(len(row.output) + 2 for row in self.rows)])
        lines = [f"{'case':<{width}}{'inputs':<35}{'output':<{named}}max |torch - onnx|"]
        for row in self.rows:
            verdict = "ok" if row.passed else f"FAIL (> {self.tolerance})"
            lines.append(
                f"{row.case:<{width}}{row.inputs:<35}{row.output:<{named}}"
                f"{row.max_abs_diff:<10.3g}{verdict}"
            )
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


def _graphs(features: list[np.ndarray], graph: GraphSpec, rng: np.random.Generator) -> GraphBatch:
    """Graphs of ``features`` wired as ``graph`` says, with Gaussian graph features ``u``
    when the spec names some. Edges come from the native spec builder (what deployment
    runs: knn, delaunay, none); ``threshold`` and ``given`` specs get threshold edges over
    the spec's coordinate columns and its ``layer`` column (rounded: random features are
    not whole layer numbers), ``CASE_THRESHOLD`` apart: what matters to parity is that the
    edges vary per graph."""
    graphs = _edges(features, graph)
    if not graph.graph_feature_names:
        return graphs
    u = rng.normal(size=(len(features), len(graph.graph_feature_names))).astype(np.float32)
    return dataclasses.replace(graphs, u=u)


def _edges(features: list[np.ndarray], graph: GraphSpec) -> GraphBatch:
    if graph.builder not in ("threshold", "given"):
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


# (mean, standard deviation) of each node feature
FeatureScale = tuple[np.ndarray, np.ndarray]


def training_scale(model: object) -> FeatureScale | None:
    """The node-feature scale a model standardises its inputs with (its ``feature_mean`` and
    ``feature_std`` buffers, set from the training data), or None."""
    mean, std = getattr(model, "feature_mean", None), getattr(model, "feature_std", None)
    if mean is None or std is None:
        return None
    return np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)


def _features(
    rng: np.random.Generator, sizes: list[int], num_features: int, scale: FeatureScale | None
) -> list[np.ndarray]:
    """Gaussian node features, at ``scale`` (the training data's) when given: a trained
    model fed features tens of standard deviations from its training range computes with
    huge cancelling activations, and float32 rounding alone then separates two runtimes."""
    features = random_features(rng, sizes, num_features)
    if scale is None:
        return features
    mean, std = scale
    return [(mean + std * f).astype(np.float32) for f in features]


def default_example(
    spec: ModelSpec,
    seed: int = 0,
    sizes: tuple[int, ...] = DEFAULT_EXAMPLE_SIZES,
    scale: FeatureScale | None = None,
) -> Batch:
    """A random export example: one graph per entry of ``sizes`` (its node count), built as
    the graph spec says, with node features at ``scale`` (:func:`training_scale`) when
    given, or ``len(sizes)`` frames of the frame spec's shape. Every dynamic axis must come
    out >= 2 (export_onnx checks).

    A spec whose graphs have no edges (builder ``"none"``, point clouds) gets one self loop
    per node in its export example only: an example without edges would freeze the edge
    axis of the exported model at 0. Its parity cases have no edges, as deployment."""
    rng = np.random.default_rng(seed)
    if spec.graph is not None:
        features = _features(rng, list(sizes), len(spec.graph.feature_names), scale)
        example = _graphs(features, spec.graph, rng)
        if spec.graph.builder != "none":
            return example
        nodes = np.arange(example.num_nodes, dtype=np.int64)
        return dataclasses.replace(example, edge_index=np.stack([nodes, nodes]))
    if spec.frame_shape is not None:
        return FrameBatch(sparse_frames(rng, len(sizes), spec.frame_shape))
    msg = f"model spec {spec.name!r} has neither a graph nor a frame spec"
    raise ValueError(msg)


def _graph_cases(
    graph: GraphSpec, example: GraphBatch, rng: np.random.Generator, scale: FeatureScale | None
) -> dict[str, GraphBatch]:
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
        name: _graphs(_features(rng, graph_sizes, num_features, scale), graph, rng)
        for name, graph_sizes in sizes.items()
    }


def parity_cases(
    spec: ModelSpec, example: Batch, seed: int = 0, scale: FeatureScale | None = None
) -> dict[str, Batch]:
    """Named input batches for the parity check of a model with this spec (random node
    features at ``scale`` when given)."""
    rng = np.random.default_rng(seed)
    cases: dict[str, Batch] = {"export example": example}
    if isinstance(example, GraphBatch) and spec.graph is not None:
        cases.update(_graph_cases(spec.graph, example, rng, scale))
    elif isinstance(example, FrameBatch):
        shape = example.frames.shape[1:]
        for name, count in (("one image", 1), ("two images", 2), ("many images", 17)):
            cases[name] = FrameBatch(rng.random((count, *shape), dtype=np.float32))
    return cases


def check_parity(
    reference: Predict,
    candidate: Predict,
    cases: dict[str, Batch],
    atol: float,
    outputs: Sequence[TensorSpec],
    seed: int = 0,
    rtol: float = 0.0,
) -> ParityReport:
    """Compare every output of ``candidate`` with ``reference`` on every case, one report
    row per case and output; an output passes when ``|torch - onnx| <= atol + rtol |torch|``
    everywhere (``rtol`` for regression outputs of hundreds of GeV, where float32 rounding
    alone exceeds any useful absolute tolerance).

    Each case with several graphs or images is also run by the candidate in shuffled
    order and compared item by item (per-node outputs node by node), so a model whose
    outputs depend on batch order fails.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for name, batch in cases.items():
        expected = reference(batch)
        runs = [(name, batch, expected)]
        if len(batch) > 1:
            order = rng.permutation(len(batch))
            shuffled = batch.select(order.tolist())
            runs.append(
                (f"{name}, shuffled", shuffled, _reordered(expected, outputs, batch, order))
            )
        for label, inputs, wanted in runs:
            got = candidate(inputs)
            for output in outputs:
                diff, excess = _diffs(wanted[output.name], got.get(output.name), rtol)
                rows.append(ParityRow(label, inputs.describe(), diff, excess <= atol, output.name))
    return ParityReport(tuple(rows), atol, rtol)


def _reordered(
    outputs: dict[str, np.ndarray],
    specs: Sequence[TensorSpec],
    batch: Batch,
    order: np.ndarray,
) -> dict[str, np.ndarray]:
    """``outputs`` of ``batch`` in the item order of ``batch.select(order)``: per-item rows
    picked by ``order``; per-node rows graph by graph in that order (select's node order)."""
    reordered = {}
    for spec in specs:
        values = outputs[spec.name]
        if spec.per_node and isinstance(batch, GraphBatch):
            nodes = Ragged.from_batch(values, batch)
            reordered[spec.name] = np.concatenate([nodes[int(g)] for g in order])
        else:
            reordered[spec.name] = values[order]
    return reordered


def _diffs(wanted: np.ndarray, got: np.ndarray | None, rtol: float) -> tuple[float, float]:
    """(max |wanted - got|, max (|wanted - got| - rtol |wanted|)); inf when ``got`` is
    missing or of another shape."""
    if got is None or got.shape != wanted.shape:
        return float("inf"), float("inf")
    diff = np.abs(wanted - got)
    return float(np.max(diff)), float(np.max(diff - rtol * np.abs(wanted)))
