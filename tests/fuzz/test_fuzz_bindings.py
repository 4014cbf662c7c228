"""Fuzz the C++ bindings (``e2e_gnn._native``) and the Python edge builders with arguments
of arbitrary dtype, rank, shape, byte order and layout, and with sizes inconsistent with
each other (``ptr`` past the rows, ``batch`` shorter than ``x``, ...); and a frame model's
Tagger with malformed frames arrays.

Every call runs in the worker process: a crash fails the case. The property: a clear error
naming the argument, or a result consistent with the input (edges inside their own graph,
one score row per graph), equal to the result for the same values in the canonical layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _cases import FEATURES
from _fuzz import Worker, assert_clear_error
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC

DTYPES = ("float32", "float64", "int64", "int32", "uint8", "bool", ">f4", ">i8", "float16")


@st.composite
def any_array(draw: st.DrawFn, max_rank: int = 3) -> Any:
    """An array of any dtype, rank and shape, possibly a non-contiguous view; sometimes a
    Python list or scalar."""
    kind = draw(st.sampled_from(["array"] * 6 + ["list", "scalar", "none"]))
    if kind == "none":
        return None
    if kind == "scalar":
        return draw(st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=2)))
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=max_rank)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.integers(-3, 12, size=shape).astype(draw(st.sampled_from(DTYPES)))
    if kind == "list":
        return values.tolist()
    if values.ndim and draw(st.booleans()):
        wide = np.repeat(values, 2, axis=-1)
        return wide[..., ::2]
    return values


def _valid_nodes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    sizes = draw(st.lists(st.integers(1, 8), min_size=1, max_size=4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.normal(size=(sum(sizes), len(FEATURES))).astype(np.float32)
    return x, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


@st.composite
def binding_calls(draw: st.DrawFn) -> tuple[str, str, list[Any], int]:
    """(worker function, binding name, args, index of the replaced argument or -1)."""
    x, ptr = _valid_nodes(draw)
    pos = np.ascontiguousarray(x[:, :2])
    n, g = len(x), len(ptr) - 1
    batch = np.repeat(np.arange(g), np.diff(ptr)).astype(np.int64)
    edges = np.stack([np.arange(n), np.arange(n)]).astype(np.int64)
    frames = np.zeros((2, 2, 8, 8), np.float32)
    spec = TOY_GRAPH_SPEC.to_json()
    calls: dict[str, tuple[str, list[Any]]] = {
        "check_graph_inputs": ("native", [x, edges, batch, len(FEATURES)]),
        "check_fixed_degree": ("native", [edges, batch, 1, True]),
        "check_frames": ("native", [frames, [2, 8, 8]]),
        "graphs_from_spec": ("native", [spec, x, ptr, 1]),
        "knn_graph": ("native", [pos, ptr, 3, False, -1, 6.283185307179586, 1]),
        "threshold_graph": (
            "native",
            [pos, np.zeros(n, np.int64), ptr, 0.5, 0.5, False, -1, 6.283185307179586],
        ),
        "delaunay_graph": ("native", [pos, ptr]),
        "batch_graphs": ("native", [[(x[:1], edges[:, :0]), (x[:n], edges[:, :n])]]),
        "knn_graph ": ("builder", [pos, ptr, 3]),
        "threshold_graph ": ("builder", [pos, np.zeros(n, np.int64), ptr, 0.5, 0.5]),
        "delaunay_graph ": ("builder", [pos, ptr]),
        "run": ("native_tagger_call", [x, edges, batch]),
        "tag_nodes": ("native_tagger_call", [x, ptr]),
        "build_graphs": ("native_tagger_call", [x, ptr]),
        "intra_op_threads": ("native", [1, {}, "m"]),
    }
    name = draw(st.sampled_from(sorted(calls)))
    worker_fn, args = calls[name]
    replaced = draw(st.integers(-1, len(args) - 1))
    if replaced >= 0:
        if isinstance(args[replaced], np.ndarray) or draw(st.booleans()):
            args[replaced] = draw(any_array())
        else:
            # numbers of any size and sign for the scalar arguments (k, threads, cuts, ...)
            args[replaced] = draw(st.one_of(st.integers(-(2**40), 2**40), st.floats()))
    if name == "batch_graphs" and draw(st.booleans()):
        args[0] = [(draw(any_array()), draw(any_array())) for _ in range(draw(st.integers(0, 2)))]
        replaced = 0
    return worker_fn, name.strip(), args, replaced


def _edges_inside_graphs(edge_index: np.ndarray, ptr: np.ndarray) -> None:
    assert edge_index.dtype == np.int64 and edge_index.ndim == 2 and len(edge_index) == 2
    if edge_index.size:
        graph = np.searchsorted(ptr, edge_index, side="right") - 1
        assert edge_index.min() >= 0 and edge_index.max() < ptr[-1]
        np.testing.assert_array_equal(graph[0], graph[1])


@settings(max_examples=500, deadline=None, derandomize=True)
@given(call=binding_calls())
def test_bindings(worker: Worker, fuzz_counts, tagger_export, call) -> None:
    worker_fn, name, args, replaced = call
    fuzz_counts[f"_native.{name}" if worker_fn != "builder" else f"graphs.{name}"] += 1
    if worker_fn == "native_tagger_call":
        reply = worker.call(worker_fn, str(tagger_export[2]), name, *args)
    else:
        reply = worker.call(worker_fn, name, *args)
    if not reply.ok:
        assert replaced >= 0, f"valid call refused: {reply!r}"
        assert_clear_error(reply, *_ARG_WORDS)
        return
    # accepted: the result must be consistent with the inputs
    if name in ("knn_graph", "delaunay_graph", "threshold_graph"):
        edges = reply.value[0] if name == "threshold_graph" else reply.value
        ptr = args[2] if name == "threshold_graph" else args[1]
        ptr = np.array([0, len(args[0])]) if ptr is None else np.asarray(ptr)  # None: one graph
        _edges_inside_graphs(edges, ptr)
    elif name in ("graphs_from_spec", "build_graphs", "batch_graphs"):
        x, edge_index, batch = reply.value
        assert batch.shape == (len(x),) and np.all(np.diff(batch) >= 0)
        ptr = np.concatenate([[0], np.cumsum(np.bincount(batch))])
        _edges_inside_graphs(edge_index, ptr)
    elif name == "tag_nodes":
        assert len(reply.value) == len(args[1]) - 1
    elif name == "run":
        scores = next(iter(reply.value.values()))
        assert len(scores) == int(np.asarray(args[2])[-1]) + 1


# words a refusal names: the argument or what about it is wrong
_ARG_WORDS = (
    "'x'",
    "'edge_index'",
    "'batch'",
    "'frames'",
    "pos",
    "ptr",
    "layer",
    "k ",
    "k must",
    "'k'",
    "dtype",
    "dimension",
    "contiguous",
    "graph",
    "threads",
    "incompatible function",
    "period",
    "spec",
    "must be",
    "expected",
    "metadata",
    "node",
)


@pytest.fixture(scope="module")
def frame_model(tmp_path_factory) -> str:
    """A tiny CNN exported as a frame model: 2 channels of 8 x 8."""
    torch = pytest.importorskip("torch")
    from e2e_gnn.export import default_example, export_onnx
    from e2e_gnn.nn.models import FrameCNNTagger
    from e2e_gnn.spec import FRAME_INPUTS, FRAME_OUTPUTS, ModelSpec

    torch.manual_seed(0)
    model = FrameCNNTagger(2, width=4, num_blocks=1).eval()
    spec = ModelSpec(
        "cnn",
        "FrameCNNTagger",
        model.hyperparameters,
        inputs=FRAME_INPUTS,
        outputs=FRAME_OUTPUTS,
        frame={"shape": [2, 8, 8], "channels": ["ecal", "hcal"]},
    )
    path = tmp_path_factory.mktemp("cnn") / "cnn.onnx"
    export_onnx(model, spec, path, default_example(spec))
    return str(path)


FRAME_SAME = ("valid", "strided", "fortran", "permuted", "chunked")
FRAME_BAD = ("float64", "int", "rank", "channels", "size", "nan", "list")


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    count=st.integers(1, 5),
    mutation=st.sampled_from(FRAME_SAME + FRAME_BAD),
    backend=st.sampled_from(("onnxruntime", "native")),
    data=st.data(),
)
def test_frames_arrays(worker: Worker, fuzz_counts, frame_model, count, mutation, backend, data):
    fuzz_counts[f"frame Tagger(backend={backend!r})"] += 1
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    frames = rng.normal(size=(count, 2, 8, 8)).astype(np.float32)
    reference = worker.call("tagger_call", frame_model, "onnxruntime", "__call__", frames)
    assert reference.ok, reference
    expected = reference.value
    bad: Any = frames
    if mutation == "strided":
        bad = np.repeat(frames, 2, axis=-1)[..., ::2]
    elif mutation == "fortran":
        bad = np.asfortranarray(frames)
    elif mutation == "permuted":
        order = list(data.draw(st.permutations(range(count))))
        bad, expected = frames[order], expected[order]
    elif mutation == "float64":
        bad = frames.astype(np.float64)
    elif mutation == "int":
        bad = frames.astype(np.int32)
    elif mutation == "rank":
        bad = data.draw(st.sampled_from([frames[0], frames[:, None], frames.reshape(count, -1)]))
    elif mutation == "channels":
        bad = np.ascontiguousarray(frames[:, :1])
    elif mutation == "size":
        bad = np.ascontiguousarray(frames[:, :, : data.draw(st.integers(1, 7))])
    elif mutation == "nan":
        bad = frames.copy()
        bad[data.draw(st.integers(0, count - 1)), 1, 2, 3] = np.nan
    elif mutation == "list":
        bad = frames.tolist()
    method, args = (
        ("score", (data.draw(st.integers(1, 3)),)) if mutation == "chunked" else ("__call__", ())
    )
    replies = [worker.call("tagger_call", frame_model, backend, method, bad, *args)]
    if backend == "native":
        replies.append(worker.call("native_tagger_call", frame_model, "run_frames", bad))
    for reply in replies:
        if mutation in FRAME_SAME:
            if reply.ok or mutation == "valid" or method == "score":
                assert reply.ok, reply
                value = (
                    reply.value if isinstance(reply.value, np.ndarray) else reply.value["scores"]
                )
                np.testing.assert_allclose(value, expected, rtol=0, atol=1e-6)
            else:
                assert_clear_error(reply, "'frames'", "contiguous")
        else:
            assert_clear_error(reply, "'frames'", "frames")


def test_int64_arrays_with_another_dtype_object_are_accepted() -> None:
    # found by the harness: the bindings compared dtype objects by identity, so an int64
    # array whose dtype is numpy's long long, or that was pickled (sent to a worker
    # process), was refused as "unsupported dtype int64"; a byte-swapped one still is
    import pickle

    from e2e_gnn.graphs import knn_graph
    from e2e_gnn.graphs.batch import GraphBatch

    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    edges = np.array([[0, 1, 3], [1, 0, 4]])
    batch = np.array([0, 0, 0, 1, 1, 1])
    for convert in (
        lambda a: a.astype(np.longlong) if a.dtype.kind == "i" else a,
        lambda a: pickle.loads(pickle.dumps(a)),
    ):
        GraphBatch(convert(x), convert(edges), convert(batch), 2).validate()
        assert knn_graph(convert(x), convert(np.array([0, 3, 6])), 2).shape == (2, 12)
    with pytest.raises(TypeError, match="'edge_index' must be a numpy int64 array, got >i8"):
        GraphBatch(x, edges.astype(">i8"), batch, 2).validate()
