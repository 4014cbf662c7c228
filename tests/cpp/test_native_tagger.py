"""The C++ Tagger through its bindings (e2e_gnn._native.Tagger): parity with torch, graphs
identical to Python's, thread safety, flat memory, and input validation (fuzzed)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e_gnn._native_loader import load_native
from e2e_gnn.graphs.synthetic import graphs_from_features, toy_jets
from e2e_gnn.spec import SPEC_KEY, VERSION_KEY

ATOL = 1e-5
native = load_native()


def jets_of_event(num_jets: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(per-jet node features, x [N, F], ptr [G + 1]) of toy jets."""
    jets = toy_jets(num_jets, seed=seed)
    features = [jets.graph(g)[0] for g in range(num_jets)]
    ptr = np.concatenate([[0], np.cumsum([len(f) for f in features])]).astype(np.int64)
    return features, np.concatenate(features), ptr


@pytest.fixture(scope="module")
def tagger(tagger_export):
    return native.Tagger(str(tagger_export[2]))


def test_tag_nodes_builds_pythons_graphs_and_matches_torch(tagger, tagger_export) -> None:
    torch = pytest.importorskip("torch")
    model, spec, _ = tagger_export
    features, x, ptr = jets_of_event(12)
    graphs = graphs_from_features(features, spec.graph)
    built_x, edge_index, batch = tagger.build_graphs(x, ptr)
    np.testing.assert_array_equal(edge_index, graphs.edge_index)
    np.testing.assert_array_equal(batch, graphs.batch)
    np.testing.assert_array_equal(built_x, graphs.x)
    with torch.no_grad():
        expected = torch.sigmoid(model(*map(torch.from_numpy, graphs.inputs().values())))
    np.testing.assert_allclose(tagger.tag_nodes(x, ptr), expected.numpy(), atol=ATOL, rtol=0)
    outputs = tagger.run(**graphs.inputs())
    np.testing.assert_allclose(outputs["scores"], expected.numpy(), atol=ATOL, rtol=0)


def test_batch_graphs_offsets_indices() -> None:
    x0, x1 = np.ones((3, 2), np.float32), np.zeros((2, 2), np.float32)
    x, edge_index, batch = native.batch_graphs(
        [(x0, np.array([[0, 2], [1, 1]])), (x1, np.array([[1], [0]]))]
    )
    assert x.shape == (5, 2)
    np.testing.assert_array_equal(edge_index, [[0, 2, 4], [1, 1, 3]])
    np.testing.assert_array_equal(batch, [0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match=r"graph 1: 'edge_index' has 2 at \[0, 0\]"):
        native.batch_graphs([(x0, np.array([[0], [1]])), (x1, np.array([[2], [0]]))])


def small_event(seed: int, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(x [N, 4], ptr) of jets with random features: small, so that 1e3-1e5 calls stay fast."""
    x = np.random.default_rng(seed).normal(size=(sum(sizes), 4)).astype(np.float32)
    return x, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def test_eight_threads_share_one_tagger(tagger) -> None:
    """8 threads x 1000 calls on one Tagger give exactly the serial results."""
    events = [small_event(s, [3 + s, 9, 2 * s + 1][: 1 + s % 3]) for s in range(8)]
    serial = [tagger.tag_nodes(x, ptr) for x, ptr in events]
    mismatches = [0] * 8

    def work(t: int) -> None:
        x, ptr = events[t]
        for _ in range(1000):
            if not np.array_equal(tagger.tag_nodes(x, ptr), serial[t]):
                mismatches[t] += 1

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == [0] * 8


def rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


def test_memory_stays_flat_over_1e5_calls(tagger) -> None:
    x, ptr = small_event(3, [6])
    graphs_x, graphs_ptr = small_event(4, [5, 12, 30])
    for _ in range(2000):  # warm up ONNX Runtime's arena and the allocator
        tagger.tag_nodes(x, ptr)
    before = rss_bytes()
    for i in range(100_000):
        if i % 1000 == 0:  # other shapes now and then: reallocations, not only reuse
            tagger.tag_nodes(graphs_x, graphs_ptr)
        tagger.tag_nodes(x, ptr)
    growth = rss_bytes() - before
    assert growth < 8 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB over 1e5 calls"


def expect_error(call, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        call()


def test_bad_inputs_raise_clear_errors(tagger) -> None:
    features, x, ptr = jets_of_event(3)
    _, edge_index, batch = tagger.build_graphs(x, ptr)
    n = len(x)
    bad = edge_index.copy()
    bad[1, 5] = n
    expect_error(lambda: tagger.run(x, bad, batch), rf"'edge_index' has {n} at \[1, 5\]")
    bad[1, 5] = -3
    expect_error(lambda: tagger.run(x, bad, batch), r"'edge_index' has -3 at \[1, 5\]")
    wide = np.ascontiguousarray(np.hstack([x, x[:, :1]]))
    expect_error(lambda: tagger.run(wide, edge_index, batch), "5 features per node, the model")
    expect_error(lambda: tagger.tag_nodes(wide, ptr), "5 features per node, the model expects 4")
    nan = x.copy()
    nan[7, 3] = np.nan
    expect_error(lambda: tagger.run(nan, edge_index, batch), "non-finite value nan at node 7")
    expect_error(lambda: tagger.tag_nodes(nan, ptr), "non-finite value nan at node 7, feature 3")
    expect_error(
        lambda: tagger.run(x, edge_index.astype(np.int32), batch), "'edge_index' has dtype int32"
    )
    # An event without jets: no scores, no inference; a jet without hits: an error.
    empty = tagger.tag_nodes(np.zeros((0, 4), np.float32), np.zeros(1, np.int64))
    assert empty.shape == (0, 1)
    hollow = np.array([0, len(features[0]), len(features[0]), n], np.int64)
    expect_error(lambda: tagger.tag_nodes(x, hollow), "graph 1 has 0 nodes")
    expect_error(lambda: tagger.run(x[:0], edge_index[:, :0], batch[:0]), "'x' has no nodes")
    expect_error(lambda: tagger.tag_nodes(x, ptr[:-1]), "'ptr' must start at 0 and end at")
    expect_error(lambda: tagger.tag_frames(np.zeros((1, 1, 2, 2), np.float32)), "graph model")


def with_metadata(source: Path, target: Path, key: str, value: str | None) -> Path:
    model = onnx.load(source)
    props = [p for p in model.metadata_props if not (value is None and p.key == key)]
    for prop in props:
        if prop.key == key and value is not None:
            prop.value = value
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    onnx.save(model, target)
    return target


def test_bad_models_raise_clear_errors(tagger_export, tmp_path: Path) -> None:
    path = tagger_export[2]
    expect_error(lambda: native.Tagger(str(tmp_path / "none.onnx")), "none.onnx' does not exist")
    (tmp_path / "corrupt.onnx").write_bytes(b"\x08\x07 not a model")
    expect_error(lambda: native.Tagger(str(tmp_path / "corrupt.onnx")), "as an ONNX model")
    spec = {p.key: p.value for p in onnx.load(path).metadata_props}[SPEC_KEY]
    cases = {
        "format": (SPEC_KEY, spec.replace('"format": 1', '"format": 7'), "spec format 7"),
        "version": (VERSION_KEY, "3.1.0", "exported by e2e_gnn 3.1.0, this library is"),
        "no spec": (SPEC_KEY, None, "has no 'e2e_gnn.spec' metadata"),
        "bad json": (SPEC_KEY, spec[:-5], "malformed e2e_gnn spec"),
        "no version": (VERSION_KEY, None, "has no 'e2e_gnn.version' metadata"),
    }
    for name, (key, value, message) in cases.items():
        bad = with_metadata(path, tmp_path / f"{name}.onnx", key, value)
        expect_error(lambda bad=bad: native.Tagger(str(bad)), message)


def is_valid(x: np.ndarray, edge_index: np.ndarray, batch: np.ndarray) -> bool:
    """The GraphBatch contract, written independently of the C++ checks."""
    if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != 4 or x.shape[0] == 0:
        return False
    if edge_index.dtype != np.int64 or edge_index.ndim != 2 or edge_index.shape[0] != 2:
        return False
    if batch.dtype != np.int64 or batch.shape != (x.shape[0],) or not np.isfinite(x).all():
        return False
    n = x.shape[0]
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= n):
        return False
    if batch[0] != 0 or np.any(~np.isin(np.diff(batch), [0, 1])):
        return False
    return bool(np.all(batch[edge_index[0]] == batch[edge_index[1]]))


@st.composite
def graph_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(0, 12))
    width = draw(st.sampled_from([4, 4, 4, 3, 5]))
    x = np.asarray(
        draw(st.lists(st.floats(-5, 5, width=32), min_size=n * width, max_size=n * width)),
        dtype=draw(st.sampled_from([np.float32] * 5 + [np.float64])),
    ).reshape(n, width)
    if n and draw(st.booleans()):
        x[draw(st.integers(0, n - 1)), draw(st.integers(0, width - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf, 1.0])
        )
    e = draw(st.integers(0, 20))
    rows = draw(st.sampled_from([2, 2, 2, 1, 3]))
    edge_index = np.asarray(
        draw(st.lists(st.integers(-2, n + 1), min_size=rows * e, max_size=rows * e)),
        dtype=draw(st.sampled_from([np.int64] * 5 + [np.int32])),
    ).reshape(rows, e)
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    batch = np.repeat(np.arange(len(sizes)), sizes)[:n] if n else np.zeros(0)
    batch = np.resize(batch, draw(st.sampled_from([n, n, n, n + 1]))).astype(np.int64)
    if len(batch) and draw(st.integers(0, 5)) == 0:
        batch[draw(st.integers(0, len(batch) - 1))] = draw(st.integers(-1, 6))
    return x, edge_index, batch


@settings(max_examples=300, deadline=None)
@given(graph_inputs())
def test_fuzzed_inputs_are_validated(tagger, inputs) -> None:
    """Random shapes, dtypes, indices and values: scores when the batch is valid, a
    ValueError otherwise, never a crash."""
    x, edge_index, batch = inputs
    if is_valid(x, edge_index, batch):
        scores = tagger.run(x, edge_index, batch)["scores"]
        assert scores.shape == (int(batch[-1]) + 1, 1) and np.isfinite(scores).all()
    else:
        with pytest.raises(ValueError, match="input '"):
            tagger.run(x, edge_index, batch)


def test_frame_model_scores_images_like_torch(tmp_path: Path) -> None:
    """A CNN on frames [B, C, H, W]: one call for all images, torch's scores, and checks."""
    torch = pytest.importorskip("torch")
    from e2e_gnn.export import default_example, export_onnx
    from e2e_gnn.nn.models import FrameCNNTagger, Scores
    from e2e_gnn.spec import FRAME_INPUTS, FRAME_OUTPUTS, ModelSpec

    torch.manual_seed(0)
    model = FrameCNNTagger(2, width=4, num_blocks=1).eval()
    spec = ModelSpec(
        "cnn", "FrameCNNTagger", model.hyperparameters, inputs=FRAME_INPUTS,
        outputs=FRAME_OUTPUTS, frame={"shape": [2, 16, 16], "channels": ["ecal", "hcal"]},
    )  # fmt: skip
    export_onnx(model, spec, tmp_path / "cnn.onnx", default_example(spec))
    cnn = native.Tagger(str(tmp_path / "cnn.onnx"))
    assert not cnn.is_graph_model
    frames = np.random.default_rng(0).random((7, 2, 16, 16), dtype=np.float32)
    with torch.no_grad():
        expected = Scores(model)(torch.from_numpy(frames)).numpy()
    np.testing.assert_allclose(cnn.tag_frames(frames), expected, atol=ATOL, rtol=0)
    assert cnn.tag_frames(frames[:0]).shape == (0, 1)
    frames[3, 1, 4, 5] = np.inf
    expect_error(
        lambda: cnn.tag_frames(frames), r"non-finite values in image 3: inf at \[1, 4, 5\]"
    )
    expect_error(lambda: cnn.tag_frames(frames[:, :1].copy()), r"'frames' has shape \[7, 1")
    expect_error(lambda: cnn.tag_nodes(frames[0, 0], np.array([0, 16])), "is a frame model")
