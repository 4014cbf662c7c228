"""Edge builders over ragged batches of point sets, implemented once in C++ (``_native``).

Every builder takes float32 positions ``pos`` [N, D] of all graphs back to back and ``ptr``
[G + 1] (graph g owns nodes ``ptr[g]:ptr[g + 1]``; ``None`` for a single graph), never links
nodes of different graphs, and returns int64 ``edge_index`` [2, E] (row 0 source, row 1
target) sorted by target, then by source. Positions are not cast: float32 is required so that
distances, and therefore ties, are the same in every caller.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from e2e_gnn._native_loader import load_native

TWO_PI = 2.0 * math.pi

__all__ = ["delaunay_graph", "knn_graph", "threshold_graph"]


def _positions(pos: ArrayLike) -> np.ndarray:
    if not isinstance(pos, np.ndarray) or pos.dtype != np.float32:
        got = pos.dtype if isinstance(pos, np.ndarray) else type(pos).__name__
        msg = f"pos must be a float32 NumPy array [N, D], got {got}: pass pos.astype(np.float32)"
        raise TypeError(msg)
    if pos.ndim != 2:
        msg = f"pos must have 2 dimensions [N, D], got shape {pos.shape}"
        raise ValueError(msg)
    return np.ascontiguousarray(pos)


def _node_ptr(ptr: ArrayLike | None, num_nodes: int) -> np.ndarray:
    if ptr is None:
        return np.array([0, num_nodes], dtype=np.int64)
    array = np.asarray(ptr)
    if array.ndim != 1 or array.dtype.kind not in "iu":  # np.integer, without issubdtype's cost
        msg = f"ptr must be a 1-D integer array [G + 1], got {array.dtype} {array.shape}"
        raise TypeError(msg)
    return np.ascontiguousarray(array, dtype=np.int64)


def _periodic(periodic: int | None) -> int:
    if periodic is None:
        return -1
    if isinstance(periodic, bool) or not isinstance(periodic, int | np.integer) or periodic < 0:
        msg = f"periodic must be None or a coordinate index >= 0, got {periodic!r}"
        raise ValueError(msg)
    return int(periodic)


def knn_graph(
    pos: np.ndarray,
    ptr: ArrayLike | None = None,
    k: int = 16,
    *,
    loop: bool = False,
    periodic: int | None = None,
    period: float = TWO_PI,
    threads: int = 1,
) -> np.ndarray:
    """k-nearest-neighbour edges of every graph, built in one native call.

    Node i of a graph with n nodes receives exactly ``min(k, n - 1)`` edges j -> i from the
    nodes with the smallest (squared Euclidean distance, index), ties going to the smaller
    index; with ``loop`` its self loop is one of ``min(k, n)`` edges. This fixed degree is what
    scatter-free aggregation relies on.

    Args:
        pos: float32 [N, D] positions of all graphs.
        ptr: int [G + 1] node offsets of the graphs (default: one graph).
        k: edges per node, at least 1 (default: 16).
        loop: include self loops (default: False).
        periodic: index of a coordinate that wraps around, e.g. phi (default: None).
        period: period of that coordinate (default: 2 pi).
        threads: worker threads (default: 1).

    Returns:
        int64 [2, E] edge_index sorted by target, then source.
    """
    pos = _positions(pos)
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        msg = f"k must be an integer >= 1, got {k!r}"
        raise TypeError(msg)
    return load_native().knn_graph(
        pos,
        _node_ptr(ptr, pos.shape[0]),
        int(k),
        bool(loop),
        _periodic(periodic),
        float(period),
        int(threads),
    )


def threshold_graph(
    pos: np.ndarray,
    layer: ArrayLike,
    ptr: ArrayLike | None = None,
    same_layer: float = 0.0,
    adjacent_layer: float = 0.0,
    *,
    loop: bool = False,
    periodic: int | None = None,
    period: float = TWO_PI,
) -> tuple[np.ndarray, np.ndarray]:
    """Layered distance-threshold edges, as in the ATLAS displaced-photon GNN.

    Two nodes of a graph are joined (both directions) when they are in the same layer and at
    most ``same_layer`` apart, or in adjacent layers (layer numbers differing by 1) and at most
    ``adjacent_layer`` apart. Distances are Euclidean over all coordinates of ``pos``, usually
    (eta, phi) with ``periodic=1``.

    Args:
        pos: float32 [N, D] positions of all graphs.
        layer: int [N] layer number of each node.
        ptr: int [G + 1] node offsets of the graphs (default: one graph).
        same_layer: distance cut within a layer; negative: no such edges (default: 0).
        adjacent_layer: distance cut between adjacent layers; negative: none (default: 0).
        loop: include self loops, with distance 0 (default: False).
        periodic: index of a coordinate that wraps around, e.g. phi (default: None).
        period: period of that coordinate (default: 2 pi).

    Returns:
        (edge_index int64 [2, E] sorted by target then source, distance float32 [E, 1]).
    """
    pos = _positions(pos)
    layers = np.asarray(layer)
    if layers.ndim != 1 or not np.issubdtype(layers.dtype, np.integer):
        msg = f"layer must be a 1-D integer array [N], got {layers.dtype} {layers.shape}"
        raise TypeError(msg)
    return load_native().threshold_graph(
        pos,
        np.ascontiguousarray(layers, dtype=np.int64),
        _node_ptr(ptr, pos.shape[0]),
        float(same_layer),
        float(adjacent_layer),
        bool(loop),
        _periodic(periodic),
        float(period),
    )


def delaunay_graph(pos: np.ndarray, ptr: ArrayLike | None = None) -> np.ndarray:
    """Delaunay-triangulation edges in a plane, as in the ATLAS jet-calibration GNN.

    Exact predicates make this a true Delaunay triangulation for any input. Degenerate graphs:
    fewer than 2 distinct positions give no edges; positions all on one line give the path
    along the line; a node at the same position as an earlier one is joined only to that one.
    Coordinates do not wrap: pass phi relative to the jet axis.

    Args:
        pos: float32 [N, 2] positions of all graphs, e.g. (eta, phi).
        ptr: int [G + 1] node offsets of the graphs (default: one graph).

    Returns:
        int64 [2, E] edge_index, every edge in both directions once, sorted by target then
        source.
    """
    pos = _positions(pos)
    return load_native().delaunay_graph(pos, _node_ptr(ptr, pos.shape[0]))
