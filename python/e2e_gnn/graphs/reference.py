"""Simple NumPy references of the native graph builders, used by the tests.

They repeat the native arithmetic operation by operation (float32 positions promoted to
float64, per-coordinate absolute differences, the periodic one folded with ``fmod``, squared
and summed in coordinate order), so kNN results can be compared for identity, ties included.
Quadratic in the graph size: for tests only.
"""

from __future__ import annotations

import math

import numpy as np

TWO_PI = 2.0 * math.pi


def _graph_slices(ptr: np.ndarray) -> list[tuple[int, int]]:
    ptr = np.asarray(ptr, dtype=np.int64)
    return [(int(ptr[g]), int(ptr[g + 1])) for g in range(len(ptr) - 1)]


def _differences(pos: np.ndarray, d: int, periodic: int | None, period: float) -> np.ndarray:
    """|pos[i, d] - pos[j, d]| in float64 for every pair, folded when d is periodic."""
    column = pos[:, d].astype(np.float64)
    diff = np.abs(column[:, None] - column[None, :])
    if d == periodic:
        diff = np.fmod(diff, period)
        diff = np.minimum(diff, period - diff)
    return diff


def squared_distances(
    pos: np.ndarray, periodic: int | None = None, period: float = TWO_PI
) -> np.ndarray:
    """float64 [n, n] squared distances, summed coordinate by coordinate like the native code."""
    acc = np.zeros((pos.shape[0], pos.shape[0]))
    for d in range(pos.shape[1]):
        diff = _differences(pos, d, periodic, period)
        acc = acc + diff * diff
    return acc


def knn_reference(
    pos: np.ndarray,
    ptr: np.ndarray,
    k: int,
    loop: bool = False,
    periodic: int | None = None,
    period: float = TWO_PI,
) -> np.ndarray:
    """Brute-force kNN edge_index int64 [2, E], identical to ``builders.knn_graph``.

    Target node i receives the ``min(k, n - 1)`` other nodes of its graph with the smallest
    (squared distance, index), or its self loop and the ``min(k, n) - 1`` closest others with
    ``loop``. Edges are sorted by target, then by source.
    """
    sources, targets = [], []
    for start, stop in _graph_slices(ptr):
        n = stop - start
        degree = max(0, min(k, n if loop else n - 1))
        if degree == 0:
            continue
        dist = squared_distances(pos[start:stop], periodic, period)
        np.fill_diagonal(dist, -1.0 if loop else np.inf)
        nearest = np.sort(np.argsort(dist, axis=1, kind="stable")[:, :degree], axis=1)
        sources.append(nearest.reshape(-1) + start)
        targets.append(np.repeat(np.arange(start, stop), degree))
    if not sources:
        return np.zeros((2, 0), dtype=np.int64)
    return np.stack([np.concatenate(sources), np.concatenate(targets)]).astype(np.int64)


def threshold_reference(
    pos: np.ndarray,
    layer: np.ndarray,
    ptr: np.ndarray,
    same_layer: float,
    adjacent_layer: float,
    loop: bool = False,
    periodic: int | None = None,
    period: float = TWO_PI,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense layered-threshold edges: (edge_index int64 [2, E], distance float32 [E, 1]).

    Nodes of one graph are joined when in the same layer at distance <= ``same_layer`` or in
    adjacent layers at distance <= ``adjacent_layer``; sorted by target, then source.
    """
    sources, targets, lengths = [], [], []
    for start, stop in _graph_slices(ptr):
        dist = np.sqrt(squared_distances(pos[start:stop], periodic, period))
        layers = np.asarray(layer[start:stop], dtype=np.int64)
        step = np.abs(layers[:, None] - layers[None, :])
        linked = ((step == 0) & (dist <= same_layer)) | ((step == 1) & (dist <= adjacent_layer))
        np.fill_diagonal(linked, loop)
        target, source = np.nonzero(linked)
        sources.append(source + start)
        targets.append(target + start)
        lengths.append(np.where(target == source, 0.0, dist[target, source]))
    if not sources:
        return np.zeros((2, 0), dtype=np.int64), np.zeros((0, 1), dtype=np.float32)
    edge_index = np.stack([np.concatenate(sources), np.concatenate(targets)]).astype(np.int64)
    return edge_index, np.concatenate(lengths).astype(np.float32).reshape(-1, 1)


def delaunay_reference(pos: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """Delaunay edges from ``scipy.spatial.Delaunay`` (Qhull), both directions, deduplicated.

    Only meaningful for points in general position (no four cocircular, no three collinear on
    the hull) and at least 3 per graph: there the triangulation is unique and must equal ours.
    """
    import scipy.spatial

    pairs = []
    for start, stop in _graph_slices(ptr):
        if stop - start < 3:
            continue
        simplices = scipy.spatial.Delaunay(pos[start:stop].astype(np.float64)).simplices
        for a, b in ((0, 1), (1, 2), (2, 0)):
            pairs.append(np.stack([simplices[:, a], simplices[:, b]], axis=1) + start)
            pairs.append(np.stack([simplices[:, b], simplices[:, a]], axis=1) + start)
    if not pairs:
        return np.zeros((2, 0), dtype=np.int64)
    edges = np.unique(np.concatenate(pairs), axis=0)  # rows (source, target)
    order = np.lexsort((edges[:, 0], edges[:, 1]))
    return edges[order].T.astype(np.int64)
