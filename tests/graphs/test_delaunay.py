"""Delaunay graphs: against scipy (Qhull) in general position, exact checks when degenerate."""

from __future__ import annotations

import numpy as np
import pytest

from e2e_gnn.graphs.builders import delaunay_graph
from e2e_gnn.graphs.reference import delaunay_reference


def test_matches_scipy_in_general_position() -> None:
    rng = np.random.default_rng(2)
    sizes = [3, 4, 10, 50, 400]
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    pos = rng.normal(size=(ptr[-1], 2)).astype(np.float32)
    np.testing.assert_array_equal(delaunay_graph(pos, ptr), delaunay_reference(pos, ptr))


def test_unit_square() -> None:
    pos = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float32)
    edge_index = delaunay_graph(pos)
    pairs = {tuple(e) for e in edge_index.T}
    # The four sides and one of the two (cocircular, equally valid) diagonals, both directions.
    sides = {(0, 1), (1, 3), (3, 2), (2, 0)}
    assert all((a, b) in pairs and (b, a) in pairs for a, b in sides)
    assert len(pairs) == 10 and ({(0, 3), (3, 0)} <= pairs or {(1, 2), (2, 1)} <= pairs)


@pytest.mark.parametrize(
    ("pos", "expected"),
    [
        ([], [[], []]),
        ([[0, 0]], [[], []]),
        ([[0, 0], [1, 1]], [[1, 0], [0, 1]]),
        ([[2, 2], [0, 0], [1, 1], [3, 3]], [[2, 3, 2, 0, 1, 0], [0, 0, 1, 2, 2, 3]]),  # collinear
        ([[0, 0], [0, 0], [0, 0]], [[1, 2, 0, 0], [0, 0, 1, 2]]),  # one place, three nodes
        ([[0, 0], [1, 0], [0, 0]], [[1, 2, 0, 0], [0, 0, 1, 2]]),  # a duplicate joins its first
    ],
    ids=["empty", "one", "two", "collinear", "all_same", "duplicate"],
)
def test_degenerate(pos: list, expected: list) -> None:
    points = np.array(pos, dtype=np.float32).reshape(-1, 2)
    np.testing.assert_array_equal(delaunay_graph(points), np.array(expected, dtype=np.int64))


def cross(o: tuple, a: tuple, b: tuple) -> int:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def in_circle(a: tuple, b: tuple, c: tuple, d: tuple) -> int:
    """Exact sign of the in-circle determinant of integer points (a, b, c counter-clockwise)."""
    rows = [(p[0] - d[0], p[1] - d[1]) for p in (a, b, c)]
    (ax, ay), (bx, by), (cx, cy) = rows
    det = (ax * ax + ay * ay) * (bx * cy - cx * by) + (bx * bx + by * by) * (cx * ay - ax * cy)
    det += (cx * cx + cy * cy) * (ax * by - bx * ay)
    return (det > 0) - (det < 0)


def hull_size(points: list[tuple]) -> int:
    """Points on the convex hull boundary, collinear ones included (monotone chain)."""
    ordered = sorted(set(points))
    chain: list[tuple] = []
    for sequence in (ordered, ordered[::-1]):
        part: list[tuple] = []
        for p in sequence:
            while len(part) >= 2 and cross(part[-2], part[-1], p) < 0:
                part.pop()
            part.append(p)
        chain += part[:-1]
    return len(set(chain))


def test_cocircular_pixel_grid_is_delaunay() -> None:
    """Pixels of a frame are massively cocircular, where Qhull's choice is arbitrary: check the
    definition exactly instead. The faces (3-cliques holding no other node) number 2n - 2 - h
    and the edges 3n - 3 - h (a full triangulation), and no node is strictly inside the
    circumcircle of any face (Delaunay)."""
    rng = np.random.default_rng(4)
    cells = rng.choice(15 * 15, size=60, replace=False)
    points = [(int(c // 15), int(c % 15)) for c in cells]
    edge_index = delaunay_graph(np.array(points, dtype=np.float32))
    neighbours: dict[int, set[int]] = {i: set() for i in range(len(points))}
    for s, t in edge_index.T:
        neighbours[int(t)].add(int(s))
    faces = []
    for a in neighbours:
        for b in neighbours[a]:
            for c in neighbours[a] & neighbours[b]:
                if a < b < c:
                    pa, pb, pc = points[a], points[b], points[c]
                    if cross(pa, pb, pc) < 0:
                        pb, pc = pc, pb
                    inside = [
                        p
                        for p in points
                        if p not in (pa, pb, pc)
                        and min(cross(pa, pb, p), cross(pb, pc, p), cross(pc, pa, p)) >= 0
                    ]
                    if cross(pa, pb, pc) != 0 and not inside:
                        faces.append((pa, pb, pc))
    n, h = len(points), hull_size(points)
    assert edge_index.shape[1] == 2 * (3 * n - 3 - h)
    assert len(faces) == 2 * n - 2 - h
    for pa, pb, pc in faces:
        assert all(in_circle(pa, pb, pc, p) <= 0 for p in points)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="2 coordinates"):
        delaunay_graph(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"pos\[0\]\[1\]"):
        delaunay_graph(np.array([[0, np.nan]], np.float32))
