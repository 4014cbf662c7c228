from __future__ import annotations

import numpy as np
import pytest

from e2e_gnn import GraphBatch, SpecError, Tagger

BACKENDS = ["onnxruntime", "native"]
ATOL = 1e-5


def torch_scores(model, batch: GraphBatch) -> np.ndarray:
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        inputs = [torch.from_numpy(a) for a in batch.inputs().values()]
        return torch.sigmoid(model(*inputs)).numpy()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "sizes",
    [[1], [1, 1, 1], [2, 5], [9, 30, 3], [250], [int(n) for n in np.arange(1, 60, 7)]],
    ids=["single-node", "no-edges", "small", "mixed", "large", "many"],
)
def test_backend_matches_torch(tagger_export, make_graphs, backend: str, sizes: list[int]) -> None:
    model, spec, path = tagger_export
    batch = make_graphs(sizes, spec.num_features, seed=len(sizes))
    expected = torch_scores(model, batch)
    with Tagger(path, backend=backend) as tagger:
        scores = tagger(batch)
    assert scores.shape == (len(sizes), 1) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_graph_without_edges_among_others(tagger_export, backend: str) -> None:
    model, _, path = tagger_export
    rng = np.random.default_rng(3)
    graphs = [
        (rng.normal(size=(6, 4)).astype(np.float32), np.zeros((2, 0), np.int64)),
        (rng.normal(size=(3, 4)).astype(np.float32), np.array([[0, 1, 1], [1, 0, 2]])),
    ]
    batch = GraphBatch.from_graphs(graphs)
    with Tagger(path, backend=backend) as tagger:
        np.testing.assert_allclose(tagger(batch), torch_scores(model, batch), atol=ATOL, rtol=0)
        np.testing.assert_allclose(tagger.tag(graphs), tagger(batch), atol=0, rtol=0)


def test_backends_agree_and_score_in_chunks(tagger_export, make_graphs) -> None:
    _, spec, path = tagger_export
    batch = make_graphs([int(n) for n in np.arange(2, 80, 3)], spec.num_features)
    whole = Tagger(path, backend="onnxruntime")(batch)
    chunked = Tagger(path, backend="native").score(batch, per_call=5)
    np.testing.assert_allclose(chunked, whole, atol=ATOL, rtol=0)


def test_tagger_reads_the_spec(tagger_export) -> None:
    _, spec, path = tagger_export
    assert Tagger(path).spec == spec


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_inputs_are_refused_before_inference(tagger_export, backend: str) -> None:
    _, spec, path = tagger_export
    tagger = Tagger(path, backend=backend)
    x = np.ones((3, spec.num_features), np.float32)
    out_of_range = GraphBatch(x, np.array([[0, 3], [1, 2]]), np.zeros(3, np.int64), 1)
    with pytest.raises(ValueError, match=r"'edge_index' has 3 at \[0, 1\]"):
        tagger(out_of_range)
    too_wide = GraphBatch(
        np.ones((3, 7), np.float32), np.zeros((2, 0), np.int64), np.zeros(3, np.int64), 1
    )
    with pytest.raises(ValueError, match="7 features per node, the model expects 4"):
        tagger(too_wide)
    wrong_dtype = GraphBatch(x, np.array([[0], [1]], np.int32), np.zeros(3, np.int64), 1)
    with pytest.raises(TypeError, match="'edge_index' must be a numpy int64 array, got int32"):
        tagger(wrong_dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_checks_beyond_the_cpp_ones_and_their_order(tagger_export, backend: str) -> None:
    """The graph count and node_y rows are checked on every backend (the native backend's
    run makes the C++ checks itself), after the C++ checks, as GraphBatch.validate does."""
    _, spec, path = tagger_export
    tagger = Tagger(path, backend=backend)
    x = np.ones((6, spec.num_features), np.float32)
    edges = np.array([[0, 4], [1, 5]])
    two = np.repeat([0, 1], 3)
    for count in (1, 3):
        with pytest.raises(ValueError, match=f"batch has 2 graphs but num_graphs is {count}"):
            tagger(GraphBatch(x, edges, two, count))
    with pytest.raises(ValueError, match="node_y has 5 rows for 6 nodes"):
        tagger(GraphBatch(x, edges, two, 2, node_y=np.zeros((5, 1), np.float32)))
    skipping = np.array([0, 0, 0, 2, 2, 1])  # ends with graph num_graphs - 1
    for count, node_y in ((2, None), (5, None), (2, np.zeros((5, 1), np.float32))):
        with pytest.raises(ValueError, match="'batch' goes from graph 0 to 2 at node 3"):
            tagger(GraphBatch(x, edges, skipping, count, node_y=node_y))


def test_native_session_validates_names_dtypes_and_ranks(tagger_export) -> None:
    from e2e_gnn._native_loader import load_native

    _, _, path = tagger_export
    session = load_native().Session(str(path))
    good = {
        "x": np.ones((2, 4), np.float32),
        "edge_index": np.array([[0], [1]]),
        "batch": np.zeros(2, np.int64),
    }
    assert session.run(good)["scores"].shape == (1, 1)
    with pytest.raises(ValueError, match="has no input 'nodes'; its inputs are: x, edge_index"):
        session.run({**good, "nodes": good["x"]})
    with pytest.raises(ValueError, match="input 'batch' is missing"):
        session.run({"x": good["x"], "edge_index": good["edge_index"]})
    with pytest.raises(ValueError, match=r"'x' has dtype float64, the model expects float32"):
        session.run({**good, "x": good["x"].astype(np.float64)})
    with pytest.raises(ValueError, match=r"'edge_index' has shape \[2\], the model expects \[2, "):
        session.run({**good, "edge_index": np.array([0, 1])})
    with pytest.raises(TypeError, match="'x' must be a numpy array, not list"):
        session.run({**good, "x": [[1.0] * 4] * 2})
    with pytest.raises(ValueError, match="not C-contiguous"):
        session.run({**good, "x": np.ones((4, 2), np.float32).T})


@pytest.mark.parametrize("backend", BACKENDS)
def test_model_file_errors(tmp_path, backend: str) -> None:
    with pytest.raises((FileNotFoundError, ValueError), match="does not exist"):
        Tagger(tmp_path / "missing.onnx", backend=backend)
    (tmp_path / "junk.onnx").write_bytes(b"this is not a protobuf")
    with pytest.raises(ValueError, match="cannot load .* as an ONNX model"):
        Tagger(tmp_path / "junk.onnx", backend=backend)


def test_model_without_e2e_gnn_metadata_is_refused(tmp_path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["scores"])],
        "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 4])],
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]),
        tmp_path / "plain.onnx",
    )
    with pytest.raises(SpecError, match="no 'e2e_gnn.spec' metadata"):
        Tagger(tmp_path / "plain.onnx")


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        Tagger("model.onnx", backend="tensorrt")


@pytest.mark.parametrize("backend", BACKENDS)
def test_tag_nodes_builds_the_spec_graphs_like_the_cpp_tagger(tagger_export, backend) -> None:
    from e2e_gnn._native_loader import load_native
    from e2e_gnn.graphs.reference import knn_reference

    model, spec, path = tagger_export
    rng = np.random.default_rng(5)
    sizes = [1, 4, 9, 30]
    x = rng.normal(size=(sum(sizes), spec.num_features)).astype(np.float32)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    # independent graphs: the NumPy reference kNN over the spec's coordinate columns
    columns = [spec.graph.feature_names.index(c) for c in spec.graph.coordinates]
    edges = knn_reference(np.ascontiguousarray(x[:, columns]), ptr, spec.graph.k)
    batch = GraphBatch(x, edges, np.repeat(np.arange(len(sizes)), sizes), len(sizes))
    expected = torch_scores(model, batch)
    with Tagger(path, backend=backend) as tagger:
        np.testing.assert_allclose(tagger.tag_nodes(x, ptr), expected, atol=ATOL, rtol=0)
    cpp = load_native().Tagger(str(path)).tag_nodes(x, ptr)
    np.testing.assert_allclose(cpp, expected, atol=ATOL, rtol=0)


def test_two_models_in_one_process_tag_with_their_own_graph_specs(tagger_export, tmp_path) -> None:
    """The same weights with two graph specs (k = 8 and k = 3), tagging in turns: each
    model's tag_nodes builds its own spec's edges on every backend (nothing cached by one
    model is used by the other)."""
    import dataclasses
    import json

    import onnx

    from e2e_gnn.graphs.reference import knn_reference
    from e2e_gnn.spec import SPEC_KEY

    model, spec, path = tagger_export
    onnx_model = onnx.load(path)
    for prop in onnx_model.metadata_props:
        if prop.key == SPEC_KEY:
            written = json.loads(prop.value)
            prop.value = json.dumps({**written, "graph": {**written["graph"], "k": 3}})
    onnx.save(onnx_model, tmp_path / "k3.onnx")
    rng = np.random.default_rng(11)
    sizes = [12, 5, 20]
    x = rng.normal(size=(sum(sizes), spec.num_features)).astype(np.float32)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    columns = [spec.graph.feature_names.index(c) for c in spec.graph.coordinates]
    expected = {}
    for graph in (spec.graph, dataclasses.replace(spec.graph, k=3)):
        edges = knn_reference(np.ascontiguousarray(x[:, columns]), ptr, graph.k)
        batch = GraphBatch(x, edges, np.repeat(np.arange(len(sizes)), sizes), len(sizes))
        expected[graph.k] = torch_scores(model, batch)
    assert np.abs(expected[8] - expected[3]).max() > 10 * ATOL
    for backend in BACKENDS:
        taggers = {
            8: Tagger(path, backend=backend),
            3: Tagger(tmp_path / "k3.onnx", backend=backend),
        }
        assert taggers[3].spec.graph == dataclasses.replace(spec.graph, k=3)
        for k in (8, 3, 8, 3):
            got = taggers[k].tag_nodes(x, ptr)
            np.testing.assert_allclose(got, expected[k], atol=ATOL, rtol=0, err_msg=backend)
