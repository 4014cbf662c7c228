"""Simple NumPy references of the native graph builders, used by the tests.

They repeat the native arithmetic operation by operation (float32 positions promoted to
float64, per-coordinate absolute differences, the periodic one folded with ``fmod``, squared
and summed in coordinate order), so kNN results can be compared for identity, ties included.
Quadratic in the graph size: for tests only.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.spatial

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
    """Brute-force kNN edge_index int64 [2, E], ordered like ``builders.knn_graph``.

    Per target node: its self loop first (with ``loop``), then the other nodes of its graph by
    increasing (squared distance, index), ``min(k, n - 1)`` of them (``min(k, n)`` in all with
    the self loop).
    """
    sources, targets = [], []
    for start, stop in _graph_slices(ptr):
        n = stop - start
        degree = max(0, min(k, n if loop else n - 1))
        if degree == 0:
            continue
        dist = squared_distances(pos[start:stop], periodic, period)
        np.fill_diagonal(dist, -1.0 if loop else np.inf)
        order = np.argsort(dist, axis=1, kind="stable")[:, :degree]
        sources.append(order.reshape(-1) + start)
        targets.append(np.repeat(np.arange(start, stop), degree))
    if not sources:
        return np.zeros((2, 0), dtype=np.int64)
    return np.stack([np.concatenate(sources), np.concatenate(targets)]).astype(np.int64)
