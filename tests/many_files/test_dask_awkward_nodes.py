"""Per-node outputs of the dask-awkward column: one row per object, aligned with the
objects, for a node-level model with graph features (the node-output contract)."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from e2e_gnn import Tagger
from e2e_gnn.runtime.dask_awkward import tag_objects

dak = pytest.importorskip("dask_awkward")


def node_events(seed: int = 0) -> tuple[ak.Array, ak.Array]:
    """Objects of 12 events (some without any) with the node example's features, and the
    per-event records of its graph features."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 9, size=12)
    counts[[2, 7]] = 0
    n = int(counts.sum())
    names = ("deta", "dphi", "log_energy", "energy_fraction")
    objects = ak.unflatten(
        ak.zip({f: rng.normal(size=n).astype(np.float32) for f in names}), counts
    )
    graph = ak.zip({f: rng.normal(size=len(counts)) for f in ("jet_pt", "jet_eta", "rho")})
    return objects, graph


def test_node_outputs_are_a_jagged_column_aligned_with_the_objects(node_export) -> None:
    path = node_export[2]
    objects, graph = node_events()
    counts = ak.to_numpy(ak.num(objects, axis=1))
    has = counts > 0
    x = np.stack([ak.to_numpy(ak.flatten(objects[f])) for f in objects.fields], axis=1)
    u = np.stack([ak.to_numpy(graph[f]) for f in graph.fields], axis=1)[has]
    with Tagger(path, backend="native") as tagger:
        nodes = tagger.tag_nodes(x, np.concatenate([[0], np.cumsum(counts[has])]), u)
    column = tag_objects(objects, path, graph_features=graph)
    # one [2] row per object, in the objects' order; an event without objects: an empty list
    assert ak.to_list(ak.num(column, axis=1)) == counts.tolist()
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(column)), nodes.values)
    for row, event in enumerate(np.flatnonzero(has)):
        np.testing.assert_array_equal(ak.to_numpy(column[event]), nodes[row])
    # the per-graph output of the same model: one value per event, None without objects
    graph_out = tag_objects(objects, path, graph_features=graph, output="graph_out")
    np.testing.assert_array_equal(ak.to_numpy(ak.is_none(graph_out)), ~has)
    lazy = tag_objects(
        dak.from_awkward(objects, npartitions=3),
        path,
        graph_features=dak.from_awkward(graph, npartitions=3),
    )
    assert ak.to_list(lazy.compute(scheduler="sync")) == ak.to_list(column)


def test_graph_features_are_required_by_the_models_that_take_them(node_export, jet_tagger) -> None:
    objects, graph = node_events()
    with pytest.raises(ValueError, match=r"takes graph features \['jet_pt', 'jet_eta', 'rho'\]"):
        tag_objects(objects, node_export[2])
    with pytest.raises(ValueError, match=r"graph_features have no field\(s\) \['rho'\]"):
        tag_objects(objects, node_export[2], graph_features=graph[["jet_pt", "jet_eta"]])
    with pytest.raises(ValueError, match=r"has no output 'energy'; it has \['node_out'"):
        tag_objects(objects, node_export[2], graph_features=graph, output="energy")
    jets = ak.Array([[{"pt": 1.0, "eta": 0.0, "phi": 0.0, "mass": 1.0}]])
    with pytest.raises(ValueError, match="takes no graph features, but graph_features was given"):
        tag_objects(jets, jet_tagger, graph_features=graph)
