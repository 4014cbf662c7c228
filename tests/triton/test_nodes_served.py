"""Node-level outputs and graph features through a real tritonserver, equal to local
onnxruntime within 1e-5, split per graph; one server for the whole module."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _helpers import Graph, random_graph

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.model_file import ModelFile
from e2e_gnn.ragged import Ragged
from e2e_gnn.runtime.backends import OnnxRuntimeBackend
from e2e_gnn.runtime.triton_backend import TritonBackend, TritonModelError
from e2e_gnn.triton import TritonServer, read_config, write_repository
from e2e_gnn.triton.config import to_pbtxt

pytestmark = pytest.mark.triton
PROTOCOLS = ["http", "grpc"]
ATOL = 1e-5
F_U = 3

LIAR = """import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            u = pb_utils.get_input_tensor_by_name(request, "u").as_numpy()
            x = pb_utils.get_input_tensor_by_name(request, "x").as_numpy()
            node_out = np.zeros((len(x) + 1, 2), dtype=np.float32)
            graph_out = np.zeros((len(u), 1), dtype=np.float32)
            tensors = [
                pb_utils.Tensor("node_out", node_out), pb_utils.Tensor("graph_out", graph_out)
            ]
            responses.append(pb_utils.InferenceResponse(tensors))
        return responses
"""


@pytest.fixture(scope="module")
def node_server(
    tmp_path_factory: pytest.TempPathFactory, node_model_path: Path, server_binary: Path
) -> Iterator[TritonServer]:
    """Every entry of the node model (``nodes_*``) and ``nodes_liar``, answering one row of
    ``node_out`` too many (no checksum in its config: it is never discovered)."""
    root = tmp_path_factory.mktemp("node_repo")
    write_repository(node_model_path, root, name="nodes")
    config = read_config(root / "nodes_python" / "config.pbtxt")
    config.name = "nodes_liar"
    del config.parameters["e2e_gnn.checksum"]
    (root / "nodes_liar" / "1").mkdir(parents=True)
    (root / "nodes_liar" / "1" / "model.py").write_text(LIAR)
    (root / "nodes_liar" / "config.pbtxt").write_text(to_pbtxt(config))
    server = TritonServer(root, binary=server_binary, startup_timeout_s=90).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def node_local(node_model_path: Path) -> Iterator[OnnxRuntimeBackend]:
    backend = OnnxRuntimeBackend(node_model_path)
    yield backend
    backend.close()


def _url(server: TritonServer, protocol: str) -> str:
    return server.http_url if protocol == "http" else server.grpc_url


@pytest.fixture(params=PROTOCOLS)
def client(request: pytest.FixtureRequest, node_server, node_model_path: Path):
    protocol = request.param
    backend = TritonBackend(node_model_path, url=_url(node_server, protocol), protocol=protocol)
    yield backend
    backend.close()


def _graphs(rng: np.random.Generator, sizes: list[tuple[int, int]]) -> list[Graph]:
    return [random_graph(rng, n, e) for n, e in sizes]


def _u(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.standard_normal((count, F_U)).astype(np.float32)


# one-node graphs (with and without a self edge), graphs without edges, a larger graph;
# 45 nodes
SIZES = [(1, 0), (6, 14), (1, 1), (4, 0), (23, 80), (1, 0), (9, 30)]


def _alone(local: OnnxRuntimeBackend, graphs: list[Graph], u: np.ndarray) -> list[dict]:
    """Each graph scored alone by local onnxruntime: the reference of the split."""
    return [
        local.run(GraphBatch.from_graphs([g], u=u[i : i + 1]).inputs())
        for i, g in enumerate(graphs)
    ]


def test_flat_outputs_equal_onnxruntime(client: TritonBackend, node_local, rng) -> None:
    """run(): every output flat, per-node [N, 2] and per-graph [G, 1]; also a request
    whose graphs have no edge at all (E = 0)."""
    for sizes in (SIZES, [(n, 0) for n, _ in SIZES]):
        graphs = _graphs(rng, sizes)
        feed = GraphBatch.from_graphs(graphs, u=_u(rng, len(graphs))).inputs()
        served, expected = client.run(feed), node_local.run(feed)
        assert list(served) == ["node_out", "graph_out"]
        assert served["node_out"].shape == (sum(n for n, _ in sizes), 2)
        assert served["graph_out"].shape == (len(sizes), 1)
        for name in served:
            np.testing.assert_allclose(served[name], expected[name], rtol=0, atol=ATOL)
    assert client.model_name == "nodes_python"  # discovered by checksum and inputs (with u)


def test_run_graphs_splits_per_graph(client: TritonBackend, node_local, rng) -> None:
    """run_graphs(): node outputs as a Ragged of G graphs, each equal to that graph scored
    alone; several requests (3 graphs each) put back together."""
    sizes = SIZES + [(int(n), int(n) * 2) for n in rng.integers(1, 30, size=12)]
    graphs, u = _graphs(rng, sizes), _u(rng, len(sizes))
    client.max_graphs_per_request = 3
    result = client.run_graphs(graphs, u=u)
    nodes = result["node_out"]
    assert isinstance(nodes, Ragged) and len(nodes) == len(graphs)
    np.testing.assert_array_equal(nodes.counts, [n for n, _ in sizes])
    assert result["graph_out"].shape == (len(graphs), 1)
    for g, alone in enumerate(_alone(node_local, graphs, u)):
        np.testing.assert_allclose(nodes[g], alone["node_out"], rtol=0, atol=ATOL)
        np.testing.assert_allclose(result["graph_out"][g], alone["graph_out"][0], atol=ATOL)


def test_shuffled_batch(client: TritonBackend, node_local, rng) -> None:
    """The graphs of a batch in another order: each graph's node rows follow it."""
    graphs, u = _graphs(rng, SIZES), _u(rng, len(SIZES))
    order = rng.permutation(len(graphs))
    assert not np.array_equal(order, np.arange(len(graphs)))

    async def shuffled() -> dict:
        try:
            return await client.run_graphs_async([graphs[i] for i in order], u=u[order])
        finally:
            await client.aclose()

    client.max_graphs_per_request = 2  # four requests in flight
    result = asyncio.run(shuffled())
    expected = _alone(node_local, graphs, u)
    for position, g in enumerate(order):
        assert len(result["node_out"][position]) == len(graphs[g][0])
        np.testing.assert_allclose(
            result["node_out"][position], expected[g]["node_out"], rtol=0, atol=ATOL
        )
        np.testing.assert_allclose(result["graph_out"][position], expected[g]["graph_out"][0])


def test_tagger_on_triton_returns_ragged(node_server, node_model_path: Path, rng) -> None:
    """Tagger(backend="triton") gives what Tagger(backend="onnxruntime") gives."""
    from e2e_gnn import Tagger

    graphs = _graphs(rng, SIZES)
    batch = GraphBatch.from_graphs(graphs, u=_u(rng, len(graphs)))
    with (
        Tagger(node_model_path, backend="triton", url=node_server.http_url) as served,
        Tagger(node_model_path) as local,
    ):
        primary, expected = served(batch), local(batch)
        assert isinstance(primary, Ragged) and len(primary) == len(graphs)
        np.testing.assert_array_equal(primary.offsets, batch.node_ptr)
        np.testing.assert_allclose(primary.values, expected.values, rtol=0, atol=ATOL)
        outputs = served.outputs(batch)
        np.testing.assert_allclose(outputs["graph_out"], local.outputs(batch)["graph_out"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_hits_ensemble(node_server, node_model_path: Path, node_local, rng, protocol) -> None:
    """Hits and u in; the server builds the graphs with graphs_from_spec; node outputs come
    back per graph in the hits' order (a graph's hits shuffled: its rows shuffled alike)."""
    sizes = [1, 2, 5, 17, 40, 1]
    events = [rng.standard_normal((n, 4)).astype(np.float32) for n in sizes]
    u = _u(rng, len(events))
    spec = ModelFile.read(node_model_path).spec.graph
    assert spec is not None
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    built = graphs_from_spec(np.concatenate(events), ptr, spec)
    expected = node_local.run({**built.inputs(), "u": u})
    with TritonBackend(
        node_model_path, url=_url(node_server, protocol), protocol=protocol, model_name="nodes_hits"
    ) as client:
        result = client.run_graphs(events, u=u)
        assert isinstance(result["node_out"], Ragged)
        np.testing.assert_array_equal(result["node_out"].counts, sizes)
        np.testing.assert_allclose(result["node_out"].values, expected["node_out"], atol=ATOL)
        np.testing.assert_allclose(result["graph_out"], expected["graph_out"], atol=ATOL)
        order = rng.permutation(sizes[4])
        events[4] = events[4][order]
        shuffled = client.run_graphs(events, u=u)["node_out"]
        np.testing.assert_allclose(shuffled[4], result["node_out"][4][order], atol=ATOL)
    log = node_server.log_path.read_text(errors="replace")
    assert "nodes_graph_builder: graphs from e2e_gnn graphs_from_spec" in log


def test_without_the_local_export(node_server, node_local, rng) -> None:
    """model_name only: the config's e2e_gnn.output_rows says which outputs are per node."""
    graphs, u = _graphs(rng, SIZES), _u(rng, len(SIZES))
    with TritonBackend(url=node_server.http_url, model_name="nodes_python") as client:
        result = client.run_graphs(graphs, u=u)
        assert isinstance(result["node_out"], Ragged)
        expected = node_local.run(GraphBatch.from_graphs(graphs, u=u).inputs())
        np.testing.assert_allclose(result["node_out"].values, expected["node_out"], atol=ATOL)
        np.testing.assert_array_equal(result["node_out"].counts, [n for n, _ in SIZES])
    with (
        TritonBackend(url=node_server.http_url, model_name="nodes_liar") as client,
        pytest.raises(TritonModelError, match=r"'node_out' with shape \(46, 2\), expected "),
    ):
        client.run_graphs(graphs, u=u)


def test_node_rows_are_checked(node_server, node_model_path: Path, rng) -> None:
    """An answer with a node row too many is refused, naming the output and the count."""
    graphs = _graphs(rng, [(3, 2), (1, 0), (4, 5)])
    feed = GraphBatch.from_graphs(graphs, u=_u(rng, 3)).inputs()
    for protocol in PROTOCOLS:
        with (
            TritonBackend(
                node_model_path,
                url=_url(node_server, protocol),
                protocol=protocol,
                model_name="nodes_liar",
                checksum_policy="warn",
            ) as client,
            pytest.warns(RuntimeWarning, match="another model"),
            pytest.raises(
                TritonModelError,
                match=r"returned 'node_out' with shape \(9, 2\), expected \(nodes=8, 2\); "
                r"one row per node",
            ),
        ):
            client.run(feed)


def test_graph_feature_errors(client: TritonBackend, rng) -> None:
    graphs = _graphs(rng, [(3, 2), (1, 0), (4, 5)])
    feed = GraphBatch.from_graphs(graphs, u=_u(rng, 3)).inputs()
    with pytest.raises(ValueError, match=r"graph features u have shape \[2, 3\]; .*3 graphs"):
        client.run_graphs(graphs, u=_u(rng, 2))
    with pytest.raises(TritonModelError, match=r"'u' has shape \[4, 3\]; .*\(3 graphs\)"):
        client.run({**feed, "u": _u(rng, 4)})  # checked by the server
    with pytest.raises(TritonModelError, match=r"takes inputs \['x', 'edge_index', 'batch', 'u'"):
        client.run({k: v for k, v in feed.items() if k != "u"})
