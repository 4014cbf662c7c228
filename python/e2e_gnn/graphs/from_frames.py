"""Graphs from dense frames or from hits: nodes, features and edges, as in CMS E2E.

A frame [C, H, W] becomes a graph whose nodes are its non-zero pixels (any channel non-zero).
Node features are the pixel's normalised coordinates ``(i - c) / c`` with ``c = (H - 1) / 2``
(and likewise for the column) followed by its C channel values; layered frames [C, L, H, W]
also give each node its layer. A frame without any non-zero pixel keeps one node, its centre
pixel (all channels zero), so that graphs stay aligned with frames and every graph has a node.
Edges come from one of the native builders over the normalised coordinates.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from e2e_gnn._native_loader import load_native
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.builders import _node_ptr, delaunay_graph, knn_graph, threshold_graph
from e2e_gnn.spec import GraphSpec

EdgeBuilder = Literal["knn", "threshold", "delaunay"]

__all__ = ["EdgeBuilder", "graphs_from_frames", "graphs_from_points", "graphs_from_spec"]


def _normalised(index: np.ndarray, size: int) -> np.ndarray:
    centre = (size - 1) / 2
    return (index - centre) / centre if centre > 0 else np.zeros(index.shape)


def graphs_from_points(
    x: np.ndarray,
    pos: np.ndarray,
    ptr: ArrayLike,
    *,
    edges: EdgeBuilder = "knn",
    k: int = 16,
    loop: bool = False,
    layer: ArrayLike | None = None,
    same_layer: float = 0.0,
    adjacent_layer: float = 0.0,
    periodic: int | None = None,
    threads: int = 1,
) -> GraphBatch:
    """A GraphBatch from ragged hits: features ``x`` [N, F], positions ``pos`` [N, D].

    Args:
        x: node features of all graphs, back to back.
        pos: float32 positions the edges are built from (e.g. eta, phi).
        ptr: int [G + 1] node offsets; every graph needs at least one node.
        edges: ``"knn"`` (k, loop, periodic, threads), ``"threshold"`` (layer, same_layer,
            adjacent_layer, loop, periodic) or ``"delaunay"`` (2-D pos).
    """
    ptr = np.asarray(ptr, dtype=np.int64)
    sizes = np.diff(ptr)
    if np.any(sizes <= 0):
        graph = int(np.flatnonzero(sizes <= 0)[0])
        msg = f"graph {graph} has {int(sizes[graph])} nodes; every graph needs at least one"
        raise ValueError(msg)
    if edges == "knn":
        edge_index = knn_graph(pos, ptr, k, loop=loop, periodic=periodic, threads=threads)
    elif edges == "threshold":
        layers = np.zeros(len(pos), dtype=np.int64) if layer is None else layer
        edge_index, _ = threshold_graph(
            pos, layers, ptr, same_layer, adjacent_layer, loop=loop, periodic=periodic
        )
    elif edges == "delaunay":
        edge_index = delaunay_graph(pos, ptr)
    else:
        msg = f"edges must be 'knn', 'threshold' or 'delaunay', not {edges!r}"
        raise ValueError(msg)
    batch = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    return GraphBatch(np.asarray(x, dtype=np.float32), edge_index, batch, len(sizes))


def graphs_from_spec(
    x: np.ndarray,
    ptr: ArrayLike,
    spec: GraphSpec,
    y: np.ndarray | None = None,
    u: ArrayLike | None = None,
) -> GraphBatch:
    """The graphs a model was trained on, from raw node features, as its GraphSpec says.

    Edges come from the spec's builder over its coordinate columns of ``x`` times
    ``coordinate_scale`` (float32), with its k and self loops: what deployment must
    reproduce. Built by the C++ function the C++ Tagger and the Triton graph builder call
    (``e2e_gnn::build_graphs``), so every path builds the same edges.

    Args:
        x: [N, F] node features (cast to float32), columns named by ``spec.feature_names``.
        ptr: int [G + 1] node offsets of the graphs; every graph needs a node.
        spec: the model's graph spec (``Tagger(...).spec.graph``).
        y: optional per-graph labels.
        u: graph-level features [G, F_u] (cast to float32) of a model whose spec names
            ``graph_feature_names``, one row per graph; checked by the Tagger (or
            ``GraphBatch.validate``) against the model's width.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    offsets = _node_ptr(ptr, len(x))
    x, edge_index, batch = load_native().graphs_from_spec(_native_spec(spec), x, offsets)
    graph_features = None if u is None else np.ascontiguousarray(u, dtype=np.float32)
    return GraphBatch(x, edge_index, batch, len(offsets) - 1, y, graph_features)


# id(spec) -> (spec, the C++ reader's GraphSpec of it): keyed by identity, not by value,
# because specs that compare equal can read differently (loop=1 equals loop=True, and the
# C++ reader refuses 1)
_NATIVE_SPECS: dict[int, tuple[GraphSpec, Any]] = {}


def _native_spec(spec: GraphSpec) -> Any:
    """``spec`` read by the C++ spec reader, once per spec object (writing and reading its
    JSON costs more than building the edges of a small jet). An entry holds its spec, so
    the id is not reused while cached; specs with mutable fields (lists, which make them
    unhashable) are read on every call."""
    cached = _NATIVE_SPECS.get(id(spec))
    if cached is not None:
        return cached[1]
    read = load_native().GraphSpec.from_json(spec.to_json())
    try:
        hash(spec)
    except TypeError:
        return read
    if len(_NATIVE_SPECS) >= 64:
        _NATIVE_SPECS.clear()
    _NATIVE_SPECS[id(spec)] = (spec, read)
    return read


def graphs_from_frames(
    frames: np.ndarray,
    *,
    edges: EdgeBuilder = "knn",
    k: int = 16,
    loop: bool = False,
    same_layer: float = 0.0,
    adjacent_layer: float = 0.0,
    threads: int = 1,
) -> GraphBatch:
    """One graph per frame of ``frames`` [B, C, H, W] or layered [B, C, L, H, W].

    Node features: normalised row and column coordinates, then (layered frames) the layer
    index, then the C channel values. Edges are built over the normalised (row, column)
    coordinates; the threshold builder uses the layer index.
    """
    frames = np.asarray(frames)
    if frames.ndim not in (4, 5):
        msg = f"frames must be [B, C, H, W] or [B, C, L, H, W], got shape {frames.shape}"
        raise ValueError(msg)
    if not np.all(np.isfinite(frames)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(frames))[0])
        msg = f"frames{list(where)} = {frames[where]!r} is not finite"
        raise ValueError(msg)
    layered = frames.ndim == 5
    if not layered:
        frames = frames[:, :, None]
    num_frames, _, _, height, width = frames.shape
    occupied = np.any(frames != 0, axis=1)  # [B, L, H, W]
    empty = ~occupied.reshape(num_frames, -1).any(axis=1)
    occupied[empty, 0, height // 2, width // 2] = True
    b, lay, i, j = np.nonzero(occupied)  # C order: graph by graph
    channels = frames[b, :, lay, i, j]
    pos = np.stack([_normalised(i, height), _normalised(j, width)], axis=1).astype(np.float32)
    columns = [pos, lay[:, None].astype(np.float32)] if layered else [pos]
    x = np.concatenate([*columns, channels.astype(np.float32)], axis=1)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(b, minlength=num_frames))])
    return graphs_from_points(
        x,
        pos,
        ptr,
        edges=edges,
        k=k,
        loop=loop,
        layer=lay,
        same_layer=same_layer,
        adjacent_layer=adjacent_layer,
        threads=threads,
    )
