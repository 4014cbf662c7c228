"""Fuzz the batch entry points: GraphBatch.from_graphs and validate, and the Tagger
(``__call__``, ``score`` in chunks, ``tag_nodes``) on the onnxruntime and native backends,
with every kind of invalid batch: dtypes, ranks, shapes, indices outside the batch or
crossing graphs, unsorted or gapped ``batch``, non-finite features, a wrong ``num_graphs``;
and frames arrays for a frame model. Valid batches in another layout (non-contiguous views,
Fortran order, graphs in another order, other chunk sizes) must score as the original."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _cases import FEATURES, graph_lists
from _fuzz import Worker, assert_clear_error
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e_gnn.graphs.batch import GraphBatch

BACKENDS = ("onnxruntime", "native")
SAME = ("valid", "strided_views", "fortran_x", "permuted", "chunked")
BAD = (
    "x_float64",
    "x_int",
    "x_list",
    "edges_int32",
    "edges_float",
    "batch_int32",
    "x_rank",
    "features",
    "edges_transposed",
    "edges_rows",
    "batch_length",
    "batch_unsorted",
    "batch_gap",
    "batch_start",
    "batch_huge",
    "num_graphs",
    "edge_too_large",
    "edge_negative",
    "edge_across_graphs",
    "x_not_finite",
    "no_nodes",
)
# what each refusal must name
NAMES = {
    "x": ("'x'",),
    "edges": ("'edge_index'",),
    "batch": ("'batch'",),
    "num": ("num_graphs",),
    "edge": ("'edge_index'",),
    "no": ("'x'",),
    "features": ("'x'",),
}


def _strided(array: np.ndarray) -> np.ndarray:
    """The same values as a non-contiguous view (every other element of a larger array)."""
    wide = np.zeros((*array.shape[:-1], 2 * array.shape[-1]), array.dtype)
    wide[..., ::2] = array
    return wide[..., ::2]


def _mutate(batch: GraphBatch, mutation: str, data: st.DataObject) -> GraphBatch:
    x, edges, ids, g = batch.x, batch.edge_index, batch.batch, batch.num_graphs
    n = len(x)
    with_edge = np.concatenate([edges, [[0], [0]]], axis=1)
    column = data.draw(st.integers(0, with_edge.shape[1] - 1), label="edge")
    row = data.draw(st.integers(0, 1), label="row")
    replace = dataclasses.replace
    if mutation == "strided_views":
        return replace(batch, x=_strided(x), edge_index=_strided(edges), batch=_strided(ids))
    if mutation == "fortran_x":
        return replace(batch, x=np.asfortranarray(x))
    if mutation == "x_float64":
        return replace(batch, x=x.astype(np.float64))
    if mutation == "x_int":
        return replace(batch, x=x.astype(np.int32))
    if mutation == "x_list":
        return replace(batch, x=x.tolist())
    if mutation == "edges_int32":
        return replace(batch, edge_index=edges.astype(np.int32))
    if mutation == "edges_float":
        return replace(batch, edge_index=edges.astype(np.float32))
    if mutation == "batch_int32":
        return replace(batch, batch=ids.astype(np.int32))
    if mutation == "x_rank":
        return replace(batch, x=data.draw(st.sampled_from([x.reshape(-1), x[None], x[:, :, None]])))
    if mutation == "features":
        width = data.draw(st.sampled_from([0, 1, 3, 5, 9]))
        return replace(batch, x=np.resize(x, (n, width)).astype(np.float32))
    if mutation == "edges_transposed":
        return replace(batch, edge_index=np.ascontiguousarray(with_edge[:, :2].T[:1]))
    if mutation == "edges_rows":
        rows = data.draw(st.sampled_from([1, 3]))
        return replace(batch, edge_index=np.resize(with_edge, (rows, with_edge.shape[1])))
    if mutation == "batch_length":
        more = data.draw(st.booleans())
        return replace(batch, batch=np.append(ids, ids[-1]) if more else ids[:-1].copy())
    if mutation == "batch_unsorted":
        if g < 2:
            return replace(batch, batch=np.append(ids[:-1], -1))
        return replace(batch, batch=ids[::-1].copy())
    if mutation == "batch_gap":
        new = ids.copy()
        new[new == g - 1] += data.draw(st.integers(1, 4))
        return replace(batch, batch=new, num_graphs=g + 1)
    if mutation == "batch_start":
        return replace(batch, batch=ids + data.draw(st.sampled_from([-1, 1, 2])))
    if mutation == "batch_huge":
        new = ids.copy()
        new[-1] = data.draw(st.sampled_from([200_000_000, 2**62, 2**63 - 1]))
        return replace(batch, batch=new, num_graphs=int(min(new[-1], 2**62)) + 1)
    if mutation == "num_graphs":
        return replace(batch, num_graphs=data.draw(st.sampled_from([0, -1, g - 1, g + 1, 2**40])))
    if mutation in ("edge_too_large", "edge_negative", "edge_across_graphs"):
        if mutation == "edge_too_large":
            with_edge[row, column] = n + data.draw(st.integers(0, 2**62))
        elif mutation == "edge_negative":
            with_edge[row, column] = -data.draw(st.integers(1, 2**62))
        else:
            if g < 2:
                with_edge[row, column] = n
            else:
                with_edge[:, column] = [0, n - 1]
        return replace(batch, edge_index=with_edge)
    if mutation == "x_not_finite":
        new = x.copy()
        new[data.draw(st.integers(0, n - 1)), 0] = data.draw(
            st.sampled_from([np.nan, np.inf, -np.inf])
        )
        return replace(batch, x=new)
    if mutation == "no_nodes":
        return GraphBatch(
            np.zeros((0, len(FEATURES)), np.float32),
            np.zeros((2, 0), np.int64),
            np.zeros(0, np.int64),
            data.draw(st.sampled_from([0, 1])),
        )
    return batch


def _names(mutation: str) -> tuple[str, ...]:
    key = mutation.split("_")[0]
    return NAMES.get(key, ("'x'", "'edge_index'", "'batch'", "num_graphs"))


@pytest.fixture(scope="module")
def model_path(tagger_export) -> str:
    return str(tagger_export[2])


@settings(max_examples=120, deadline=None, derandomize=True)
@given(
    graphs=graph_lists(max_graphs=5, max_nodes=10, max_edges=12),
    mutation=st.sampled_from(SAME + BAD),
    backend=st.sampled_from(BACKENDS),
    data=st.data(),
)
def test_graph_batches(worker: Worker, fuzz_counts, model_path, graphs, mutation, backend, data):
    fuzz_counts[f"Tagger(backend={backend!r}) / GraphBatch.validate"] += 1
    valid = GraphBatch.from_graphs(graphs)
    reference = worker.call("tagger_call", model_path, "onnxruntime", "__call__", valid)
    assert reference.ok, reference
    scores = reference.value
    assert scores.shape[0] == valid.num_graphs
    if mutation == "permuted":
        order = data.draw(st.permutations(range(valid.num_graphs)))
        reply = worker.call("tagger_call", model_path, backend, "__call__", valid.select(order))
        assert reply.ok, reply
        np.testing.assert_allclose(reply.value, scores[list(order)], rtol=0, atol=1e-6)
        return
    batch = _mutate(valid, mutation, data)
    per_call = data.draw(st.integers(1, 4), label="per_call")
    replies = {
        "validate": worker.call("batch_validate", batch, len(FEATURES)),
        "call": worker.call("tagger_call", model_path, backend, "__call__", batch),
        "score": worker.call("tagger_call", model_path, backend, "score", batch, per_call),
    }
    for name, reply in replies.items():
        if mutation in SAME:
            assert reply.ok, (name, reply)
            if name != "validate":
                np.testing.assert_allclose(reply.value, scores, rtol=0, atol=1e-6)
        else:
            assert_clear_error(reply, *_names(mutation))


@settings(max_examples=80, deadline=None, derandomize=True)
@given(graphs=graph_lists(max_graphs=3), data=st.data())
def test_from_graphs(worker: Worker, fuzz_counts, graphs, data):
    """Malformed (x, edge_index) pairs: refused naming the graph, or the same batch."""
    fuzz_counts["GraphBatch.from_graphs"] += 1
    g = data.draw(st.integers(0, len(graphs) - 1))
    x, edges = graphs[g]
    mutation = data.draw(
        st.sampled_from(
            ["valid", "pairs", "float", "too_large", "negative", "x_rank", "no_nodes", "width"]
        )
    )
    bad = list(graphs)
    if mutation == "pairs":
        bad[g] = (x, np.concatenate([edges, [[0], [0]]], axis=1).T)
    elif mutation == "float":
        bad[g] = (x, np.concatenate([edges, [[0], [0]]], axis=1).astype(float))
    elif mutation in ("too_large", "negative"):
        value = len(x) if mutation == "too_large" else -1
        bad[g] = (x, np.concatenate([edges, [[value], [0]]], axis=1))
    elif mutation == "x_rank":
        bad[g] = (x.reshape(-1), edges)
    elif mutation == "no_nodes":
        bad[g] = (x[:0], edges[:, :0])
    elif mutation == "width":
        bad[g] = (x[:, :-1], edges)
    reply = worker.call("from_graphs", bad)
    if mutation == "valid" or (mutation == "width" and len(graphs) == 1):
        assert reply.ok, reply
        expected = GraphBatch.from_graphs(bad)
        np.testing.assert_array_equal(reply.value.edge_index, expected.edge_index)
        np.testing.assert_array_equal(reply.value.x, expected.x)
    else:
        assert_clear_error(reply, f"graph {g}", "widths")


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    mutation=st.sampled_from(
        [
            "valid",
            "strided",
            "ptr_short",
            "ptr_over",
            "ptr_down",
            "ptr_start",
            "ptr_huge",
            "x_width",
            "x_float64",
            "ptr_float",
            "x_nan",
        ]
    ),
    backend=st.sampled_from(BACKENDS),
    data=st.data(),
)
def test_tag_nodes(worker: Worker, fuzz_counts, model_path, sizes, mutation, backend, data):
    """Raw nodes and offsets: inconsistent ``ptr`` is refused before any row is read."""
    fuzz_counts[f"Tagger.tag_nodes (backend={backend!r})"] += 1
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.normal(size=(sum(sizes), len(FEATURES))).astype(np.float32)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    reference = worker.call("tagger_call", model_path, "onnxruntime", "tag_nodes", x, ptr)
    assert reference.ok, reference
    names: tuple[str, ...] = ("ptr", "graph ")
    if mutation == "strided":
        x = _strided(x)
    elif mutation == "ptr_short":
        ptr = ptr[:1]
    elif mutation == "ptr_over":
        ptr = ptr.copy()
        ptr[-1] += data.draw(st.sampled_from([1, 100_000, 2**40]))
    elif mutation == "ptr_down":
        ptr = (
            np.concatenate([ptr, [ptr[-1] - 1]])
            if len(ptr) < 3
            else ptr[[0, 2, 1, *range(3, len(ptr))]]
        )
    elif mutation == "ptr_start":
        ptr = ptr + 1
    elif mutation == "ptr_huge":
        ptr = np.array([0, 100_000, len(x)], np.int64)
    elif mutation == "x_width":
        x = np.resize(x, (len(x), data.draw(st.sampled_from([0, 1, 3, 7])))).astype(np.float32)
        names = ("x", "feature")
    elif mutation == "x_float64":
        x = x.astype(np.float64)
        names = ("x",)
    elif mutation == "ptr_float":
        ptr = ptr.astype(np.float64)
    elif mutation == "x_nan":
        x = x.copy()
        x[data.draw(st.integers(0, len(x) - 1)), data.draw(st.integers(0, 3))] = np.nan
        names = ("x", "finite")
    for call in ("tagger_call", "native_tagger_call"):
        args = (
            (model_path, backend, "tag_nodes")
            if call == "tagger_call"
            else (model_path, "tag_nodes")
        )
        reply = worker.call(call, *args, x, ptr)
        if mutation == "valid" or (mutation in ("strided", "x_float64") and reply.ok):
            # the raw binding may refuse a layout the Tagger converts, never read it wrong
            assert reply.ok, reply
            np.testing.assert_allclose(
                np.ravel(reply.value), np.ravel(reference.value), rtol=0, atol=1e-6
            )
        else:
            assert call == "native_tagger_call" or mutation not in ("strided", "x_float64")
            assert_clear_error(reply, *names, "'x'", "dtype", "contiguous")


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    per_call=st.one_of(st.integers(-3, 0), st.booleans(), st.floats(0.5, 3), st.none()),
    backend=st.sampled_from(BACKENDS),
)
def test_score_per_call(worker: Worker, fuzz_counts, model_path, make_graphs, per_call, backend):
    fuzz_counts["Tagger.score(per_call=invalid)"] += 1
    batch = make_graphs([3, 4], len(FEATURES))
    reply = worker.call("tagger_call", model_path, backend, "score", batch, per_call)
    assert_clear_error(reply, "per_call")
