"""Torch vs ONNX Runtime parity on a set of graph batches chosen to break exports.

The cases cover what exporters get wrong: a graph without edges, a single node, graphs
smaller than k, a graph far larger than the export example (frozen shapes), many graphs
in one batch, and the same graphs in shuffled order (outputs that depend on padding or
on the order of graphs in a batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.synthetic import graphs_from_features, random_features
from e2e_gnn.spec import GraphSpec

Predict = Callable[[GraphBatch], np.ndarray]


@dataclass(frozen=True)
class ParityRow:
    case: str
    nodes: int
    edges: int
    graphs: int
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

    def table(self) -> str:
        lines = [f"{'case':<34}{'nodes':>7}{'edges':>8}{'graphs':>7}  max |torch - onnx|"]
        for row in self.rows:
            verdict = "ok" if row.passed else f"FAIL (> {self.atol:g})"
            lines.append(
                f"{row.case:<34}{row.nodes:>7}{row.edges:>8}{row.graphs:>7}  "
                f"{row.max_abs_diff:.3g}  {verdict}"
            )
        return "\n".join(lines)


def default_example(graph: GraphSpec | None, num_features: int | None = None) -> GraphBatch:
    """A small batch of random graphs built as ``graph`` says: an export example with
    sizes >= 2 on every dynamic axis (3 graphs of 17-40 nodes)."""
    if graph is None:
        msg = "default_example needs the model's graph spec"
        raise ValueError(msg)
    width = num_features if num_features is not None else len(graph.feature_names)
    features = random_features(np.random.default_rng(0), [24, 40, 17], width)
    return graphs_from_features(features, graph)


def parity_cases(graph: GraphSpec, example: GraphBatch, seed: int = 0) -> dict[str, GraphBatch]:
    """Named graph batches for the parity check of a model with this graph spec."""
    rng = np.random.default_rng(seed)
    num_features = example.x.shape[1]
    k = graph.k or 8
    largest = int(np.bincount(example.batch).max())
    sizes = {
        "single node": [1],
        "no edges (1-node graphs)": [1, 1, 1],
        "graphs smaller than k": [2, max(2, k // 2), k],
        "larger than example": [max(4 * largest, 300)],
        "many graphs": [int(n) for n in rng.integers(1, 3 * k, size=24)],
    }
    cases = {"export example": example}
    for name, graph_sizes in sizes.items():
        features = random_features(rng, graph_sizes, num_features)
        cases[name] = graphs_from_features(features, graph)
    return cases


def check_parity(
    reference: Predict, candidate: Predict, cases: dict[str, GraphBatch], atol: float, seed: int = 0
) -> ParityReport:
    """Compare per-graph outputs of ``candidate`` with ``reference`` on every case.

    Each multi-graph case is also run by the candidate with its graphs in shuffled order
    and compared graph by graph, so a model whose scores depend on batch order fails.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for name, batch in cases.items():
        expected = reference(batch)
        runs = [(name, batch, expected)]
        if batch.num_graphs > 1:
            order = rng.permutation(batch.num_graphs)
            runs.append((f"{name}, shuffled", batch.select(order.tolist()), expected[order]))
        for label, inputs, wanted in runs:
            got = candidate(inputs)
            diff = float(np.max(np.abs(wanted - got))) if got.shape == wanted.shape else np.inf
            rows.append(
                ParityRow(
                    label, inputs.num_nodes, inputs.num_edges, inputs.num_graphs, diff, diff <= atol
                )
            )
    return ParityReport(tuple(rows), atol)
