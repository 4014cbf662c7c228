"""GraphBatch: many variable-size graphs concatenated without padding."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from e2e_gnn._native_loader import load_native

# the model inputs in the order GraphBatch.validate checks them
_INPUT_DTYPES = (
    ("x", np.dtype(np.float32)),
    ("edge_index", np.dtype(np.int64)),
    ("batch", np.dtype(np.int64)),
    ("u", np.dtype(np.float32)),
)


@dataclass(frozen=True)
class GraphBatch:
    """Graphs concatenated along the node axis (ragged batching, no padding).

    Attributes:
        x: float32 [N, F] node features of all graphs.
        edge_index: int64 [2, E] (source, target) rows into ``x``; messages flow from
            source to target and aggregate at the target.
        batch: int64 [N] graph id of each node, sorted, every id 0..G-1 present.
        num_graphs: G.
        y: optional per-graph labels [G].
        u: optional float32 [G, F_u] graph-level features, the fourth model input of models
            whose GraphSpec names graph features.
        node_y: optional float32 [N, T] per-node training targets (not a model input).
    """

    x: np.ndarray
    edge_index: np.ndarray
    batch: np.ndarray
    num_graphs: int
    y: np.ndarray | None = None
    u: np.ndarray | None = None
    node_y: np.ndarray | None = None

    @classmethod
    def from_graphs(
        cls,
        graphs: Iterable[tuple[np.ndarray, np.ndarray]],
        y: Sequence[float] | None = None,
        u: np.ndarray | Sequence[Sequence[float]] | None = None,
    ) -> GraphBatch:
        """Concatenate ``(x [n_i, F], edge_index [2, e_i])`` pairs, offsetting indices.

        ``edge_index`` holds integers local to its graph, row 0 the sources and row 1 the
        targets; an ``[e_i, 2]`` array (one pair per row) is refused, never reshaped (pass
        ``edges.T``), and so are float indices (never truncated) and indices outside
        ``[0, n_i)``, which would land in another graph. An empty array is a graph without
        edges. ``u``: graph-level features [G, F_u], one row per graph.
        """
        xs, edges, batches = [], [], []
        offset = 0
        for graph_id, (x, edge_index) in enumerate(graphs):
            x = np.asarray(x, dtype=np.float32)
            if x.ndim != 2 or x.shape[0] == 0:
                msg = f"graph {graph_id}: x must be [nodes >= 1, features], got shape {x.shape}"
                raise ValueError(msg)
            edges.append(_local_edges(graph_id, edge_index, x.shape[0]) + offset)
            xs.append(x)
            batches.append(np.full(x.shape[0], graph_id, dtype=np.int64))
            offset += x.shape[0]
        if not xs:
            msg = "GraphBatch.from_graphs needs at least one graph"
            raise ValueError(msg)
        widths = {x.shape[1] for x in xs}
        if len(widths) > 1:
            msg = f"graphs have different feature widths {sorted(widths)}"
            raise ValueError(msg)
        labels = None if y is None else np.asarray(y, dtype=np.float32)
        return cls(
            np.concatenate(xs),
            np.concatenate(edges, axis=1),
            np.concatenate(batches),
            len(xs),
            labels,
            None if u is None else np.asarray(u, dtype=np.float32),
        )

    def __len__(self) -> int:
        """The number of graphs."""
        return self.num_graphs

    def describe(self) -> str:
        return f"{self.num_graphs} graphs, {self.num_nodes} nodes, {self.num_edges} edges"

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def node_ptr(self) -> np.ndarray:
        """int64 [G + 1]: graph g owns nodes ``node_ptr[g]:node_ptr[g + 1]``."""
        counts = np.bincount(self.batch, minlength=self.num_graphs)
        ptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        return ptr

    def inputs(self) -> dict[str, np.ndarray]:
        """The model inputs by name (e2e_gnn.spec.graph_inputs: x, edge_index, batch, and
        u when the batch has graph features), C-contiguous."""
        feed = {
            "x": np.ascontiguousarray(self.x),
            "edge_index": np.ascontiguousarray(self.edge_index),
            "batch": np.ascontiguousarray(self.batch),
        }
        if self.u is not None:
            feed["u"] = np.ascontiguousarray(self.u)
        return feed

    def validate(
        self, num_features: int | None = None, num_graph_features: int | None = None
    ) -> None:
        """Raise ValueError naming the input when the batch breaks the contract. With
        ``num_graph_features`` (a model's), ``u`` must be [G, num_graph_features], and
        absent for 0; without it, ``u`` when present must have one finite row per graph.

        The checks run in the C++ library, the same code that guards the native runtime.
        """
        self._checked_inputs(num_features, num_graph_features)

    def _checked_inputs(
        self,
        num_features: int | None,
        num_graph_features: int | None,
        checked_next: bool = False,
    ) -> dict[str, np.ndarray]:
        """:meth:`inputs` after :meth:`validate`'s checks (the Tagger's per-call path).

        ``checked_next``: the caller passes the inputs to the C++ Tagger's run, which starts
        with the same C++ check of the same model widths. That check is then left to it
        when no other error can come first: ``u`` is given exactly when the model takes it,
        there is no ``node_y``, and ``batch`` ends with graph ``num_graphs - 1`` (so the
        graph count found by a passing check is ``num_graphs``)."""
        for name, dtype in _INPUT_DTYPES:
            array = getattr(self, name)
            if array is None and name == "u":
                continue
            if not isinstance(array, np.ndarray) or array.dtype != dtype:
                got = getattr(array, "dtype", type(array).__name__)
                msg = f"input {name!r} must be a numpy {dtype.name} array, got {got}"
                raise TypeError(msg)
        feed = self.inputs()
        batch = feed["batch"]
        if (
            checked_next
            and self.node_y is None
            and (self.u is None) == (num_graph_features == 0)
            and batch.ndim == 1
            and batch.size > 0
            and batch[-1] == self.num_graphs - 1
        ):
            return feed
        found = load_native().check_graph_inputs(
            feed["x"],
            feed["edge_index"],
            feed["batch"],
            -1 if num_features is None else num_features,
            feed.get("u"),
            -1 if num_graph_features is None else num_graph_features,
        )
        if found != self.num_graphs:
            msg = f"batch has {found} graphs but num_graphs is {self.num_graphs}"
            raise ValueError(msg)
        if self.node_y is not None and len(self.node_y) != self.num_nodes:
            msg = f"node_y has {len(self.node_y)} rows for {self.num_nodes} nodes"
            raise ValueError(msg)
        return feed

    def graph(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Graph ``index`` as ``(x, edge_index)`` with its own node numbering."""
        ptr = self.node_ptr
        start, stop = ptr[index], ptr[index + 1]
        in_graph = self.batch[self.edge_index[1]] == index
        return self.x[start:stop], self.edge_index[:, in_graph] - start

    def select(self, indices: Sequence[int]) -> GraphBatch:
        """A new batch holding the graphs ``indices`` in that order (repeats allowed)."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size == 0:
            msg = "GraphBatch.select needs at least one graph index"
            raise ValueError(msg)
        if indices.min() < 0 or indices.max() >= self.num_graphs:
            msg = f"graph indices must be in [0, {self.num_graphs}), got {indices.tolist()!r}"
            raise IndexError(msg)
        node_ptr = self.node_ptr
        # edges grouped by graph, each graph's edges in their original order
        edge_graph = self.batch[self.edge_index[1]]
        edge_order = np.argsort(edge_graph, kind="stable")
        edge_ptr = np.searchsorted(edge_graph[edge_order], np.arange(self.num_graphs + 1))
        nodes = _concatenated_ranges(node_ptr[indices], node_ptr[indices + 1])
        edges = edge_order[_concatenated_ranges(edge_ptr[indices], edge_ptr[indices + 1])]
        node_counts = np.diff(node_ptr)[indices]
        new_start = np.cumsum(node_counts) - node_counts
        shift = np.repeat(new_start - node_ptr[indices], np.diff(edge_ptr)[indices])
        return GraphBatch(
            self.x[nodes],
            self.edge_index[:, edges] + shift,
            np.repeat(np.arange(indices.size, dtype=np.int64), node_counts),
            int(indices.size),
            None if self.y is None else self.y[indices],
            None if self.u is None else self.u[indices],
            None if self.node_y is None else self.node_y[nodes],
        )


def _local_edges(graph_id: int, edge_index: object, nodes: int) -> np.ndarray:
    """``edge_index`` of graph ``graph_id`` as int64 [2, E], checked against its node count."""
    edges = np.asarray(edge_index)
    if edges.size == 0:
        return np.zeros((2, 0), dtype=np.int64)
    if edges.ndim != 2 or edges.shape[0] != 2:
        hint = (
            "; pass edges.T for one (source, target) pair per row"
            if edges.shape[-1:] == (2,)
            else ""
        )
        msg = (
            f"graph {graph_id}: edge_index must be [2, E] (sources, targets), got shape "
            f"{list(edges.shape)}{hint}"
        )
        raise ValueError(msg)
    if edges.dtype.kind not in "iu":
        msg = (
            f"graph {graph_id}: edge_index must hold integers, got {edges.dtype}; float "
            "indices are refused, not truncated"
        )
        raise TypeError(msg)
    bad = np.flatnonzero(((edges < 0) | (edges >= nodes)).any(axis=0))
    if bad.size:
        column = int(bad[0])
        msg = (
            f"graph {graph_id}: edge {column} ({int(edges[0, column])}, "
            f"{int(edges[1, column])}) is outside the graph's {nodes} nodes [0, {nodes})"
        )
        raise ValueError(msg)
    return edges.astype(np.int64)


def _concatenated_ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """``concatenate([arange(a, b) for a, b in zip(starts, stops)])`` without a loop."""
    lengths = stops - starts
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())
