"""Graph files: a GraphBatch with named node features and per-graph columns.

Formats, by suffix:

- ``.root`` (a TTree) and ``.parquet``: one row per graph, jagged ``Node`` (one field per
  node feature) and ``Edge`` (``src``, ``dst``: node indices local to the graph) records,
  plus per-graph columns such as ``event``, ``index`` and ``label``. In ROOT the records
  are the branches ``nNode``, ``Node_<feature>``, ``nEdge``, ``Edge_src``, ``Edge_dst``.
- ``.npz``: the GraphBatch arrays ``x`` [N, F], ``edge_index`` [2, E] (indices into ``x``),
  ``batch`` [N], ``feature_names`` [F] (when given: without them the features are taken
  in file order) and one array [G] per per-graph column.

A graph's ``label`` column is the GraphBatch's ``y``; its graph-level features ``u`` are
per-graph columns named by ``graph_feature_names``; its per-node targets ``node_y`` are
node fields named by ``node_target_names`` (in ``.npz``: the arrays ``node_y`` [N, T] and
``node_target_names``). Reading checks every graph against
its own node count (an edge (7, 8) of a 7-node graph would otherwise land in the next
graph), the types (edge indices must be integers, node features floats) and the layout,
and raises an :class:`~e2e_gnn.io.errors.InputFileError` naming the file, the entry and
the branch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.io.columns import Column, file_format, read_columns, row_columns, write_columns
from e2e_gnn.io.errors import CorruptFileError, EmptyTreeError, FileContentError, MissingFileError

__all__ = ["GRAPH_FILES", "GraphFile", "graph_columns", "read_graphs", "write_graphs"]

GRAPH_FILES = (".npz", ".root", ".parquet")
LABEL = "label"
_NPZ_ARRAYS = ("x", "edge_index", "batch", "feature_names", "node_y", "node_target_names")


@dataclass(frozen=True)
class GraphFile:
    """What :func:`read_graphs` returns.

    Attributes:
        graphs: the graphs (``y``: the ``label`` column when the file has one).
        feature_names: the names of the columns of ``graphs.x``, in that order (``None``
            for an ``.npz`` written without names).
        columns: the file's columns with one number per graph (event, index, label, ...),
            in file order: written next to the scores, they join the scores back.
    """

    graphs: GraphBatch
    feature_names: tuple[str, ...] | None
    columns: dict[str, np.ndarray] = field(default_factory=dict)


def graph_columns(
    x: np.ndarray,
    edge_index: np.ndarray,
    batch: np.ndarray,
    num_graphs: int,
    *,
    feature_names: Sequence[str] | None = None,
    **columns: Column,
) -> dict[str, Column]:
    """The columns ``write_graphs`` writes to ROOT/parquet: ``Node`` and ``Edge`` records,
    one row per graph, then the extra per-graph columns. The graphs are validated first
    (an edge crossing graphs could not be written with local indices)."""
    graphs = GraphBatch(
        np.asarray(x, dtype=np.float32),
        np.asarray(edge_index, dtype=np.int64),
        np.asarray(batch, dtype=np.int64),
        num_graphs,
    )
    graphs.validate()
    names = _feature_names(graphs, feature_names)
    x, edge_index, batch = graphs.x, graphs.edge_index, graphs.batch
    node_counts = np.bincount(batch, minlength=num_graphs)
    offsets = np.concatenate([[0], np.cumsum(node_counts)])
    edge_graph = batch[edge_index[1]]
    order = np.argsort(edge_graph, kind="stable")
    src = edge_index[0, order] - offsets[edge_graph[order]]
    dst = edge_index[1, order] - offsets[edge_graph[order]]
    edge_counts = np.bincount(edge_graph, minlength=num_graphs)
    node = ak.zip(
        {n: ak.unflatten(np.ascontiguousarray(x[:, i]), node_counts) for i, n in enumerate(names)}
    )
    edge = ak.zip({"src": ak.unflatten(src, edge_counts), "dst": ak.unflatten(dst, edge_counts)})
    clash = sorted({"Node", "Edge", "nNode", "nEdge"} & set(columns))
    if clash:
        msg = f"extra columns {clash} clash with the graph columns"
        raise ValueError(msg)
    return {"Node": node, "Edge": edge, **columns}


def _feature_names(graphs: GraphBatch, names: Sequence[str] | None) -> list[str]:
    width = graphs.x.shape[1]
    found = list(names) if names is not None else [f"x{i}" for i in range(width)]
    if len(found) != width or len(set(found)) != width:
        msg = f"{len(found)} feature names {found!r} for {width} features (names must differ)"
        raise ValueError(msg)
    return found


def _names_for(
    values: np.ndarray, names: Sequence[str] | None, argument: str, what: str
) -> list[str]:
    """The names of the columns of ``values`` (``graphs.u`` or ``graphs.node_y``)."""
    width = values.shape[1]
    if names is None or len(names) != width or len(set(names)) != width:
        msg = f"{what} has {width} columns: pass {argument} with {width} different names"
        raise ValueError(msg)
    return list(names)


def write_graphs(
    path: str | os.PathLike[str],
    graphs: GraphBatch,
    *,
    feature_names: Sequence[str] | None = None,
    graph_feature_names: Sequence[str] | None = None,
    node_target_names: Sequence[str] | None = None,
    tree: str = "Events",
    **columns: np.ndarray,
) -> Path:
    """Write ``graphs`` (validated) with named node features and per-graph ``columns`` to
    ``.root``, ``.parquet`` or ``.npz``; ``graphs.y``, when set, is written as the
    ``label`` column, ``graphs.u`` as the columns ``graph_feature_names`` and
    ``graphs.node_y`` as the node fields ``node_target_names``. Without ``feature_names``
    ROOT and parquet name the features ``x0``, ``x1``, ... and an ``.npz`` leaves them
    unnamed."""
    fmt = file_format(path, GRAPH_FILES)
    if graphs.y is not None and LABEL not in columns:
        columns = {**columns, LABEL: np.asarray(graphs.y)}
    if graphs.u is not None:
        u_names = _names_for(graphs.u, graph_feature_names, "graph_feature_names", "u")
        columns = {**columns, **{name: graphs.u[:, i] for i, name in enumerate(u_names)}}
    targets = None
    if graphs.node_y is not None:
        node_y = graphs.node_y.reshape(len(graphs.node_y), -1)
        targets = _names_for(node_y, node_target_names, "node_target_names", "node_y")
    for name, values in columns.items():
        if np.shape(values) != (graphs.num_graphs,):
            msg = (
                f"column {name!r} has shape {list(np.shape(values))}, expected one value per "
                f"graph [{graphs.num_graphs}]"
            )
            raise ValueError(msg)
    if fmt != ".npz":
        x, names = graphs.x, feature_names
        if targets is not None:
            x = np.concatenate([x, node_y], axis=1)
            names = [*_feature_names(graphs, feature_names), *targets]
        cols = graph_columns(
            x, graphs.edge_index, graphs.batch, graphs.num_graphs, feature_names=names, **columns
        )
        return write_columns(path, cols, tree=tree)
    graphs.validate()
    clash = sorted(set(_NPZ_ARRAYS) & set(columns))
    if clash:
        msg = f"extra columns {clash} clash with the graph arrays"
        raise ValueError(msg)
    arrays = {"x": graphs.x, "edge_index": graphs.edge_index, "batch": graphs.batch}
    if feature_names is not None:
        arrays["feature_names"] = np.array(_feature_names(graphs, feature_names), dtype=str)
    if targets is not None:
        arrays["node_y"] = node_y
        arrays["node_target_names"] = np.array(targets, dtype=str)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays, **columns)
    return path


def read_graphs(
    path: str | os.PathLike[str],
    *,
    feature_names: Sequence[str] | None = None,
    graph_feature_names: Sequence[str] | None = None,
    node_target_names: Sequence[str] | None = None,
    tree: str = "Events",
) -> GraphFile:
    """The graphs of a graph file (``.root``, ``.parquet`` or ``.npz``), validated.

    With ``feature_names`` (a model's ``GraphSpec.feature_names``) the node features come
    in that order, picked by name; a file lacking one is refused naming it. With
    ``graph_feature_names`` the graphs' ``u`` holds those per-graph columns, with
    ``node_target_names`` their ``node_y`` those node fields (left out of ``x`` when
    ``feature_names`` is not given). Raises an
    :class:`~e2e_gnn.io.errors.InputFileError` (file missing, truncated, not a graph file,
    an edge outside its graph, ...) naming the file, the entry and the branch.
    """
    fmt = file_format(path, GRAPH_FILES)
    x, edge_index, batch, num_graphs, names, columns = (
        _read_npz(Path(path)) if fmt == ".npz" else _read_columns(path, tree)
    )
    node_y = None
    if node_target_names is not None:
        x, names, node_y = _split_targets(path, x, names, columns, list(node_target_names))
    if feature_names is not None:
        if names is None:
            if x.shape[1] != len(feature_names):
                msg = (
                    f"{str(path)!r} has {x.shape[1]} unnamed node features, the model needs "
                    f"{len(feature_names)} {list(feature_names)}"
                )
                raise FileContentError(msg, file_path=path)
        else:
            missing = [name for name in feature_names if name not in names]
            if missing:
                msg = (
                    f"{str(path)!r} lacks node features {missing} the model needs (it has {names})"
                )
                raise FileContentError(msg, file_path=path)
            x = np.ascontiguousarray(x[:, [names.index(name) for name in feature_names]])
            names = list(feature_names)
    columns.pop(_NPZ_NODE_Y, None)
    columns.pop(_NPZ_TARGET_NAMES, None)
    u = None
    if graph_feature_names is not None:
        missing = [name for name in graph_feature_names if name not in columns]
        if missing:
            msg = (
                f"{str(path)!r} lacks graph features {missing} (its per-graph columns: "
                f"{sorted(columns)})"
            )
            raise FileContentError(msg, file_path=path)
        u = np.stack([columns[n].astype(np.float32) for n in graph_feature_names], axis=1)
    label = columns.get(LABEL)
    graphs = GraphBatch(
        x,
        edge_index,
        batch,
        num_graphs,
        None if label is None else label.astype(np.float32),
        u,
        node_y,
    )
    try:
        graphs.validate()
    except ValueError as err:
        msg = f"graph file {str(path)!r}: {err}"
        raise FileContentError(msg, file_path=path) from err
    return GraphFile(graphs, None if names is None else tuple(names), columns)


_NPZ_NODE_Y, _NPZ_TARGET_NAMES = "node_y", "node_target_names"


def _split_targets(
    path: str | os.PathLike[str],
    x: np.ndarray,
    names: list[str] | None,
    columns: dict[str, np.ndarray],
    targets: list[str],
) -> tuple[np.ndarray, list[str] | None, np.ndarray]:
    """(x without the target fields, their names, node_y [N, T]) of a file's node fields
    (``.npz``: the node_y array, which _read_npz leaves among the columns)."""
    if _NPZ_NODE_Y in columns:
        available = [str(n) for n in columns[_NPZ_TARGET_NAMES]]
    else:
        available = list(names or [])
    missing = [n for n in targets if n not in available]
    if missing:
        msg = f"{str(path)!r} lacks node targets {missing} (its node fields: {available or 'none'})"
        raise FileContentError(msg, file_path=path)
    if _NPZ_NODE_Y in columns:
        found, all_targets, keep = available, columns[_NPZ_NODE_Y], x
    else:
        assert names is not None
        found, all_targets = targets, x[:, [names.index(n) for n in targets]]
        keep_cols = [i for i, n in enumerate(names) if n not in targets]
        keep, names = x[:, keep_cols], [names[i] for i in keep_cols]
    node_y = np.ascontiguousarray(all_targets[:, [found.index(n) for n in targets]])
    return np.ascontiguousarray(keep), names, node_y.astype(np.float32, copy=False)


_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, int, list[str] | None, dict[str, np.ndarray]]


def _read_npz(path: Path) -> _Arrays:
    if not path.is_file():
        msg = f"graph file {str(path)!r} does not exist"
        raise MissingFileError(msg, file_path=path)
    try:
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
    except Exception as err:  # zipfile, pickle and format errors of numpy
        msg = (
            f"cannot read graph file {str(path)!r} as an .npz of x, edge_index, batch "
            f"({type(err).__name__}: {' '.join(str(err).split())})"
        )
        raise CorruptFileError(msg, file_path=path) from err
    missing = [name for name in ("x", "edge_index", "batch") if name not in arrays]
    if missing:
        msg = (
            f"{str(path)!r} is not a graph file: it lacks the arrays {missing} "
            f"(it has {sorted(arrays)})"
        )
        raise FileContentError(msg, file_path=path)
    x, edge_index, batch = arrays.pop("x"), arrays.pop("edge_index"), arrays.pop("batch")
    for name, array, kinds, expected in (
        ("x", x, "f", "floats [N, F]"),
        ("edge_index", edge_index, "iu", "integers [2, E]"),
        ("batch", batch, "iu", "integers [N]"),
    ):
        if array.dtype.kind not in kinds:
            msg = f"array {name!r} of {str(path)!r} is {array.dtype}, expected {expected}"
            raise FileContentError(msg, file_path=path)
    if x.ndim != 2 or batch.shape != (x.shape[0],) or edge_index.ndim != 2 or len(edge_index) != 2:
        msg = (
            f"{str(path)!r} has x {list(x.shape)}, edge_index {list(edge_index.shape)}, batch "
            f"{list(batch.shape)}; expected x [N, F], edge_index [2, E], batch [N]"
        )
        raise FileContentError(msg, file_path=path)
    if batch.size == 0:
        msg = f"graph file {str(path)!r} holds no graphs"
        raise EmptyTreeError(msg, file_path=path)
    names = None
    if "feature_names" in arrays:
        names = [str(n) for n in arrays.pop("feature_names")]
        if len(names) != x.shape[1]:
            msg = f"{str(path)!r} names {len(names)} features {names} for x of width {x.shape[1]}"
            raise FileContentError(msg, file_path=path)
    num_graphs = int(batch[-1]) + 1
    node_arrays = {n: arrays.pop(n) for n in (_NPZ_NODE_Y, _NPZ_TARGET_NAMES) if n in arrays}
    if _NPZ_NODE_Y in node_arrays:
        node_y, target_names = node_arrays[_NPZ_NODE_Y], node_arrays.get(_NPZ_TARGET_NAMES)
        if (
            node_y.ndim != 2
            or len(node_y) != x.shape[0]
            or node_y.dtype.kind != "f"
            or target_names is None
            or target_names.shape != (node_y.shape[1],)
        ):
            msg = (
                f"array 'node_y' of {str(path)!r} is {node_y.dtype} {list(node_y.shape)}: "
                f"expected floats [{x.shape[0]}, T] named by node_target_names [T]"
            )
            raise FileContentError(msg, file_path=path)
    for name, values in arrays.items():
        if values.shape != (num_graphs,) or values.dtype.kind not in "biuf":
            msg = (
                f"array {name!r} of {str(path)!r} is {values.dtype} {list(values.shape)}: "
                f"besides x, edge_index, batch and feature_names a graph file holds numbers "
                f"[{num_graphs}], one per graph"
            )
            raise FileContentError(msg, file_path=path)
    return (
        x.astype(np.float32, copy=False),
        edge_index.astype(np.int64, copy=False),
        batch.astype(np.int64, copy=False),
        num_graphs,
        names,
        {**arrays, **node_arrays},
    )


def _read_columns(path: str | os.PathLike[str], tree: str) -> _Arrays:
    cols = read_columns(path, tree=tree)
    is_root = Path(path).suffix.lower() == ".root"
    where = f"tree {tree!r} of {str(path)!r}" if is_root else repr(str(path))
    row = "entry" if is_root else "row"
    if "Node" in cols and "Edge" in cols:  # parquet keeps the records
        node, edge = cols.pop("Node"), cols.pop("Edge")
        node_cols = {f"Node.{n}": node[n] for n in (node.fields or [])}
        edge_cols = {f"Edge.{n}": edge[n] for n in ("src", "dst") if n in (edge.fields or [])}
    else:  # ROOT: nNode, Node_<feature>, nEdge, Edge_src, Edge_dst
        node_cols = {k: cols.pop(k) for k in list(cols) if k.startswith("Node_")}
        edge_cols = {k: cols.pop(k) for k in ("Edge_src", "Edge_dst") if k in cols}
        cols.pop("nNode", None)
        cols.pop("nEdge", None)
    sep = "_" if is_root else "."
    if not node_cols or len(edge_cols) != 2:
        frames = [k for k in cols if k.startswith("frame_")]
        hint = " (it holds frame_<channel> columns: a frames file)" if frames else ""
        msg = (
            f"{where} is not a graph file: it needs jagged Node{sep}<feature>, Edge{sep}src "
            f"and Edge{sep}dst branches{hint}; it has {sorted(cols) + sorted(node_cols)}"
        )
        raise FileContentError(msg, file_path=path)
    if len(next(iter(node_cols.values()))) == 0:
        msg = f"{where} has no entries: a graph file holds one graph per {row}"
        raise EmptyTreeError(msg, file_path=path)
    node_counts = None
    node_flat = []
    for name, values in node_cols.items():
        counts, flat = _jagged(values, name, where, row, "f", "floats, one per node", path)
        if node_counts is not None and not np.array_equal(counts, node_counts):
            msg = f"{where}: branch {name!r} has other node counts than {next(iter(node_cols))!r}"
            raise FileContentError(msg, file_path=path)
        node_counts = counts
        node_flat.append(flat.astype(np.float32, copy=False))
    assert node_counts is not None
    empty = np.flatnonzero(node_counts == 0)
    if empty.size:
        msg = f"{where}, {row} {int(empty[0])}: the graph has no nodes (a graph needs at least one)"
        raise FileContentError(msg, file_path=path)
    edges, edge_counts = [], None
    (src_name, src), (dst_name, dst) = edge_cols.items()
    for name, values in ((src_name, src), (dst_name, dst)):
        counts, flat = _jagged(values, name, where, row, "iu", "integer node indices", path)
        if edge_counts is not None and not np.array_equal(counts, edge_counts):
            msg = f"{where}: branches {src_name!r} and {dst_name!r} have different edge counts"
            raise FileContentError(msg, file_path=path)
        edge_counts = counts
        limit = np.repeat(node_counts, counts)
        bad = np.flatnonzero((flat < 0) | (flat >= limit))
        if bad.size:
            first = int(bad[0])
            graph = int(np.searchsorted(np.cumsum(counts), first, side="right"))
            edge = first - int(counts[:graph].sum())
            nodes = int(node_counts[graph])
            msg = (
                f"{where}, {row} {graph}: branch {name!r} has {flat[first]} at edge {edge}, "
                f"outside the graph's {nodes} nodes [0, {nodes})"
            )
            raise FileContentError(msg, file_path=path)
        edges.append(flat.astype(np.int64))
    assert edge_counts is not None
    num_graphs = len(node_counts)
    starts = np.concatenate([[0], np.cumsum(node_counts)[:-1]]).astype(np.int64)
    edge_index = np.stack(edges) + np.repeat(starts, edge_counts)
    batch = np.repeat(np.arange(num_graphs, dtype=np.int64), node_counts)
    names = [name[len("Node_") :] for name in node_cols]  # Node_<feature> or Node.<feature>
    return np.stack(node_flat, axis=1), edge_index, batch, num_graphs, names, row_columns(cols)


def _jagged(
    values: ak.Array, name: str, where: str, row: str, kinds: str, expected: str, path: Any
) -> tuple[np.ndarray, np.ndarray]:
    """(counts per entry, flat numpy values) of a jagged branch of numbers, or a named error.
    Missing values (None, in parquet files from other tools) are refused: converted, they
    would be the fill value of a masked array, a number nobody wrote."""
    if values.ndim != 2:
        layout = "one number per entry" if values.ndim == 1 else f"{values.ndim} dimensions"
        msg = f"{where}: branch {name!r} holds {layout}; a graph file needs one list per graph"
        raise FileContentError(msg, file_path=path)
    missing_lists = np.flatnonzero(ak.to_numpy(ak.is_none(values, axis=0)))
    if missing_lists.size:
        msg = f"{where}, {row} {int(missing_lists[0])}: branch {name!r} is missing (None)"
        raise FileContentError(msg, file_path=path)
    counts = np.asarray(ak.to_numpy(ak.num(values)))
    flat = ak.to_numpy(ak.flatten(values))
    if isinstance(flat, np.ma.MaskedArray):
        holes = np.flatnonzero(np.ma.getmaskarray(flat))
        if holes.size:
            entry = int(np.searchsorted(np.cumsum(counts), holes[0], side="right"))
            msg = (
                f"{where}, {row} {entry}: branch {name!r} has a missing value (None) at "
                f"index {int(holes[0] - counts[:entry].sum())}"
            )
            raise FileContentError(msg, file_path=path)
        flat = np.ma.getdata(flat)
    if flat.size and flat.dtype.kind not in kinds:
        msg = f"{where}: branch {name!r} is {flat.dtype}, expected {expected}"
        raise FileContentError(msg, file_path=path)
    return counts, flat
