"""The Tagger with per-node outputs, several outputs and graph features u, on every local
backend, against torch."""

from __future__ import annotations

import numpy as np
import pytest

from e2e_gnn import GraphBatch, Tagger
from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.ragged import Ragged

BACKENDS = ["onnxruntime", "native"]
ATOL = 1e-5
SIZES = {
    "single-node": [1],
    "one-node-graphs": [1, 1, 1, 1],  # as many nodes as graphs
    "no-edges-among-others": [1, 9, 1, 30],
    "many": [int(n) for n in np.arange(1, 60, 7)],
}


def _graphs(spec, sizes: list[int], seed: int = 0) -> GraphBatch:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(sum(sizes), spec.num_features)).astype(np.float32)
    u = rng.normal(size=(len(sizes), spec.num_graph_features)).astype(np.float32)
    return graphs_from_spec(x, np.cumsum([0, *sizes]), spec.graph, u=u)


def _torch_outputs(model, batch: GraphBatch) -> tuple[np.ndarray, np.ndarray]:
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        node, graph = model(*(torch.from_numpy(a) for a in batch.inputs().values()))
    return node.numpy(), graph.numpy()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_outputs_match_torch_node_by_node(node_export, backend: str, sizes: list[int]) -> None:
    model, spec, path = node_export
    batch = _graphs(spec, sizes, seed=len(sizes))
    node, graph = _torch_outputs(model, batch)
    with Tagger(path, backend=backend) as tagger:
        outputs = tagger.outputs(batch)
        primary = tagger(batch)
    assert list(outputs) == ["node_out", "graph_out"]
    per_node, per_graph = outputs["node_out"], outputs["graph_out"]
    assert isinstance(per_node, Ragged) and isinstance(primary, Ragged)
    assert per_node.counts.tolist() == sizes and len(per_node) == len(sizes)
    start = 0
    for g, n in enumerate(sizes):  # graph g's rows are its own nodes, in order
        assert per_node[g].shape == (n, 2) and per_node[g].dtype == np.float32
        np.testing.assert_allclose(per_node[g], node[start : start + n], atol=ATOL, rtol=0)
        np.testing.assert_array_equal(primary[g], per_node[g])
        start += n
    assert isinstance(per_graph, np.ndarray) and per_graph.shape == (len(sizes), 1)
    np.testing.assert_allclose(per_graph, graph, atol=ATOL, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_score_in_chunks_and_tag_nodes_give_the_whole_call(node_export, backend: str) -> None:
    _, spec, path = node_export
    sizes = [1, 4, 1, 1, 17, 2, 1]
    batch = _graphs(spec, sizes, seed=5)
    with Tagger(path, backend=backend) as tagger:
        whole = tagger.outputs(batch)
        chunked = tagger.outputs(batch, per_call=3)
        scored = tagger.score(batch, per_call=2)
        tagged = tagger.tag_nodes(batch.x, np.cumsum([0, *sizes]), u=batch.u)
    assert isinstance(scored, Ragged) and isinstance(tagged, Ragged)
    for got in (chunked["node_out"], scored, tagged):
        assert got.counts.tolist() == sizes
        np.testing.assert_allclose(got.values, whole["node_out"].values, atol=ATOL, rtol=0)
        np.testing.assert_array_equal(got.offsets, whole["node_out"].offsets)
    np.testing.assert_allclose(chunked["graph_out"], whole["graph_out"], atol=ATOL, rtol=0)


def test_backends_agree(node_export) -> None:
    _, spec, path = node_export
    batch = _graphs(spec, [3, 1, 40, 1], seed=2)
    runs = [Tagger(path, backend=backend).outputs(batch) for backend in BACKENDS]
    for run in runs[1:]:
        np.testing.assert_allclose(run["node_out"].values, runs[0]["node_out"].values, atol=ATOL)
        np.testing.assert_allclose(run["graph_out"], runs[0]["graph_out"], atol=ATOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_graph_features_are_checked(node_export, tagger_export, backend: str) -> None:
    _, spec, path = node_export
    batch = _graphs(spec, [2, 3], seed=1)
    narrow = GraphBatch(batch.x, batch.edge_index, batch.batch, 2, u=batch.u[:, :2])
    one_row = GraphBatch(batch.x, batch.edge_index, batch.batch, 2, u=batch.u[:1])
    missing = GraphBatch(batch.x, batch.edge_index, batch.batch, 2)
    with Tagger(path, backend=backend) as tagger:
        with pytest.raises(ValueError, match=r"input 'u' has shape \[2, 2\], expected \[2, 3\]"):
            tagger(narrow)
        with pytest.raises(ValueError, match=r"input 'u' has shape \[1, 3\], expected \[2, 3\]"):
            tagger(one_row)
        with pytest.raises(
            ValueError, match=r"takes graph features: input 'u' \[2, 3\] is missing"
        ):
            tagger(missing)
        with pytest.raises(ValueError, match=r"input 'u' \[2, 3\] is missing"):
            tagger.tag_nodes(batch.x, [0, 2, 5])
    with (
        Tagger(tagger_export[2], backend=backend) as tagger,
        pytest.raises(ValueError, match="given but the model takes no graph features"),
    ):
        tagger(GraphBatch(batch.x, batch.edge_index, batch.batch, 2, u=batch.u))


def test_a_file_whose_inputs_lack_u_is_refused(node_export, tmp_path) -> None:
    """The onnxruntime backend checks the file's inputs against its spec, as the C++ Tagger."""
    import onnx

    from e2e_gnn.runtime.tagger import _check_model_inputs
    from e2e_gnn.spec import GRAPH_INPUTS

    _, spec, path = node_export
    with pytest.raises(ValueError, match="has no input 'u': the model's spec says it takes x, "):
        _check_model_inputs(spec, GRAPH_INPUTS, "model 'm.onnx'")
    assert [i.name for i in onnx.load(str(path)).graph.input] == ["x", "edge_index", "batch", "u"]
