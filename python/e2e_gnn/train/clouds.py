"""Point clouds of ``e2e-gnn frames --kind pointcloud`` as graphs with per-point labels
(NumPy and awkward only, no torch).

One graph per cloud, no edges (PointNet reads none). As in JetPointNet (seed 004), the
focused track is a point of its own cloud: the first point, at (deta, dphi, dr) = 0 with
its momentum ``pt cosh(eta)`` as energy, depth and subdet -1 and ``is_track`` 1; the
cells follow in file order with ``is_track`` 0. Per-point targets ``node_y`` [N, 1]: the
cell's label (the fraction of its energy from the focused track's particle, -1 unknown)
and -1 for the track point, which the masked losses skip.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import awkward as ak
import numpy as np

from e2e_gnn.frames.pointcloud import POINT_FEATURES
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.io import InputFileError
from e2e_gnn.io.columns import read_columns

__all__ = [
    "CLOUD_FEATURES",
    "CLOUD_TARGETS",
    "ENERGY",
    "CloudFileError",
    "cloud_graphs",
    "read_clouds",
]

#: the point features of a cloud graph, the columns of its x
CLOUD_FEATURES: tuple[str, ...] = (*POINT_FEATURES, "is_track")
#: the name of the per-point target, the column of node_y
CLOUD_TARGETS: tuple[str, ...] = ("fraction",)
#: the feature holding each point's energy (GeV): the model's energy bypass
ENERGY = "energy"
WANTED = "a point-cloud file of `e2e-gnn frames --kind pointcloud` (points, track, label)"


class CloudFileError(ValueError):
    """A file that is not a point-cloud file with labels."""


def _field(columns: Mapping[str, ak.Array], record: str, name: str) -> ak.Array | None:
    """``record.name`` of a parquet file (nested records) or ``record_name`` of a ROOT one."""
    if record in columns:
        return columns[record][name] if name in ak.fields(columns[record]) else None
    return columns.get(f"{record}_{name}")


def cloud_graphs(
    columns: Mapping[str, ak.Array], source: str
) -> tuple[GraphBatch, dict[str, np.ndarray]]:
    """The clouds of ``columns`` (as :func:`~e2e_gnn.io.columns.read_columns` reads a
    point-cloud file) as graphs with ``node_y``, and their ``event`` and ``track_index``
    columns. Raises CloudFileError naming ``source`` and the missing columns."""
    wanted = {
        **{f"points.{f}": _field(columns, "points", f) for f in POINT_FEATURES},
        **{f"track.{f}": _field(columns, "track", f) for f in ("pt", "eta")},
        "label": columns.get("label"),
        "event": columns.get("event"),
        "track_index": columns.get("track_index"),
    }
    missing = [name for name, values in wanted.items() if values is None]
    if missing:
        msg = f"{source} lacks the column(s) {missing}; expected {WANTED}"
        raise CloudFileError(msg)
    cells = ak.to_numpy(ak.num(wanted["label"], axis=1)).astype(np.int64)
    if len(cells) == 0:
        msg = f"{source} holds no clouds"
        raise CloudFileError(msg)
    lengths = ak.to_numpy(ak.num(wanted["points.energy"], axis=1))
    if not np.array_equal(lengths, cells):
        cloud = int(np.flatnonzero(lengths != cells)[0])
        msg = (
            f"{source}: cloud {cloud} has {int(lengths[cloud])} points but "
            f"{int(cells[cloud])} labels; expected {WANTED}"
        )
        raise CloudFileError(msg)
    sizes = cells + 1
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    is_track = np.zeros(ptr[-1], dtype=bool)
    is_track[ptr[:-1]] = True
    x = np.zeros((ptr[-1], len(CLOUD_FEATURES)), dtype=np.float32)
    for column, name in enumerate(POINT_FEATURES):
        x[~is_track, column] = ak.to_numpy(ak.flatten(wanted[f"points.{name}"]))
    pt = ak.to_numpy(wanted["track.pt"]).astype(np.float64)
    eta = ak.to_numpy(wanted["track.eta"]).astype(np.float64)
    x[is_track, POINT_FEATURES.index(ENERGY)] = pt * np.cosh(eta)
    x[is_track, POINT_FEATURES.index("depth")] = -1
    x[is_track, POINT_FEATURES.index("subdet")] = -1
    x[:, -1] = is_track
    node_y = np.full((ptr[-1], 1), -1.0, dtype=np.float32)
    node_y[~is_track, 0] = ak.to_numpy(ak.flatten(wanted["label"]))
    graphs = GraphBatch(
        x,
        np.zeros((2, 0), dtype=np.int64),
        np.repeat(np.arange(len(sizes), dtype=np.int64), sizes),
        len(sizes),
        node_y=node_y,
    )
    ids = {name: ak.to_numpy(wanted[name]).astype(np.int64) for name in ("event", "track_index")}
    return graphs, ids


def read_clouds(
    paths: Sequence[str | os.PathLike[str]],
) -> list[tuple[GraphBatch, dict[str, np.ndarray]]]:
    """:func:`cloud_graphs` of every file of ``paths`` (``.root`` or ``.parquet``), in
    order. Raises CloudFileError naming the file."""
    read = []
    for path in map(Path, paths):
        try:
            columns = read_columns(path)
        except InputFileError as err:
            msg = f"cannot read {str(path)!r} ({err}); expected {WANTED}"
            raise CloudFileError(msg) from err
        except ValueError as err:  # an unknown suffix
            msg = f"{err}; expected {WANTED}"
            raise CloudFileError(msg) from err
        read.append(cloud_graphs(columns, repr(str(path))))
    return read
