"""Hypothesis strategies shared by the fuzz tests: small valid graphs, and file helpers."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from e2e_gnn.graphs.synthetic import TOY_FEATURES

FEATURES = TOY_FEATURES
_DIRS = itertools.count()


def fresh_dir(root: Path) -> Path:
    """A new directory per generated case (hypothesis cannot use function-scoped tmp_path)."""
    return Path(tempfile.mkdtemp(prefix=f"case{next(_DIRS)}_", dir=root))


@st.composite
def graph_lists(
    draw: st.DrawFn, max_graphs: int = 4, max_nodes: int = 6, max_edges: int = 8
) -> list[tuple[np.ndarray, np.ndarray]]:
    """1..max_graphs graphs ``(x float32 [n, 4], edge_index int64 [2, e])`` with local,
    valid edges (duplicates and self loops included)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sizes = draw(st.lists(st.integers(1, max_nodes), min_size=1, max_size=max_graphs))
    graphs = []
    for n in sizes:
        e = draw(st.integers(0, max_edges))
        x = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
        graphs.append((x, rng.integers(0, n, size=(2, e))))
    return graphs


def truncate(path: Path, fraction: float) -> int:
    """Cut ``path`` to ``fraction`` of its size; returns the new size."""
    data = path.read_bytes()
    size = min(int(len(data) * fraction), len(data) - 1)
    path.write_bytes(data[:size])
    return size
