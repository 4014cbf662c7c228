"""Scores served by a real tritonserver equal local onnxruntime (1e-5)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from _helpers import mixed_graphs, packed, random_graph, reference

from e2e_gnn.checksum import model_checksum
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, graphs_from_features, random_features
from e2e_gnn.runtime.triton_backend import TritonBackend, TritonModelError

pytestmark = pytest.mark.triton
PROTOCOLS = ["http", "grpc"]


def _url(server, protocol: str) -> str:
    return server.http_url if protocol == "http" else server.grpc_url


@pytest.fixture(params=PROTOCOLS)
def backend(request: pytest.FixtureRequest, server, model_path: Path):
    client = TritonBackend(
        model_path, url=_url(server, request.param), protocol=request.param, timeout_s=10
    )
    yield client
    client.close()


def test_single_graph_and_empty_edges(backend: TritonBackend, local, rng) -> None:
    for n_nodes, n_edges in [(7, 20), (5, 0), (1, 0), (1, 1)]:
        graph = random_graph(rng, n_nodes, n_edges)
        served = backend.run(packed([graph]))["scores"]
        np.testing.assert_allclose(served, reference(local, [graph]), rtol=0, atol=1e-5)
    assert backend.model_name == "tiny_python"  # discovered: same checksum and inputs


def test_ragged_batch_split_per_graph(backend: TritonBackend, local, rng) -> None:
    graphs = mixed_graphs(rng, 37)
    backend.max_graphs_per_request = 10  # 4 requests, the last one partly filled
    served = backend.run_graphs(graphs)["scores"]
    assert served.shape == (len(graphs), 1)
    np.testing.assert_allclose(served, reference(local, graphs), rtol=0, atol=1e-5)


def test_async_many_in_flight(backend: TritonBackend, local, rng) -> None:
    graphs = mixed_graphs(rng, 64)
    backend.max_graphs_per_request = 4

    async def score() -> dict[str, np.ndarray]:
        try:
            return await backend.run_graphs_async(graphs)
        finally:
            await backend.aclose()

    served = asyncio.run(score())["scores"]
    np.testing.assert_allclose(served, reference(local, graphs), rtol=0, atol=1e-5)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ensemble_from_raw_hits(server, model_path: Path, local, rng, protocol: str) -> None:
    """Clients send hits; the server builds the graphs as training does and scores them."""
    events = random_features(rng, [1, 2, 5, 17, 40], len(TOY_GRAPH_SPEC.feature_names))
    with TritonBackend(
        model_path, url=_url(server, protocol), protocol=protocol, model_name="tiny_hits"
    ) as client:
        served = client.run_graphs(events)["scores"]
    expected = local.run(graphs_from_features(events, TOY_GRAPH_SPEC).inputs())["scores"]
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-5)
    log = server.log_path.read_text(errors="replace")
    assert "tiny_graph_builder: graphs from e2e_gnn graphs_from_spec" in log  # no other path


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_compression_and_statistics(server, model_path: Path, local, rng, compression: str) -> None:
    graphs = mixed_graphs(rng, 20)
    for protocol in PROTOCOLS:
        with TritonBackend(
            model_path, url=_url(server, protocol), protocol=protocol, compression=compression
        ) as client:
            served = client.run_graphs(graphs)["scores"]
            np.testing.assert_allclose(served, reference(local, graphs), rtol=0, atol=1e-5)
            stats = client.statistics()
            assert stats["name"] == "tiny_python"
            assert int(stats["inference_count"]) >= 1  # one request per 20 graphs


def test_health_and_discovery(backend: TritonBackend) -> None:
    assert backend.is_live()
    assert backend.is_ready()
    states = {m["name"]: m.get("state") for m in backend.models()}
    assert states["tiny_python"] == "READY" and states["tiny_hits"] == "READY"
    assert "tiny" in states  # in the repository, not loaded: no onnxruntime backend here


@pytest.mark.parametrize(("name", "version"), [("nope", ""), ("tiny_python", "7")])
def test_wrong_model_name_or_version(server, model_path: Path, name: str, version: str) -> None:
    client = TritonBackend(model_path, url=server.http_url, model_name=name, model_version=version)
    with pytest.raises(TritonModelError, match="is not ready or does not exist.*tiny_python"):
        client.run(packed([random_graph(np.random.default_rng(0), 3, 2)]))
    client.close()


def _other_model(model_path: Path, tmp_path: Path) -> Path:
    """Another export: one weight changed, its own (valid) checksum."""
    model = onnx.load(str(model_path))
    weight = next(t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
    values = onnx.numpy_helper.to_array(weight).copy()
    values.flat[0] += 1.0
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    for entry in model.metadata_props:
        if entry.key == "e2e_gnn.checksum":
            entry.value = model_checksum(model.SerializeToString())
    path = tmp_path / "other.onnx"
    onnx.save_model(model, str(path))
    return path


def test_checksum_mismatch_refused_or_warned(server, model_path: Path, tmp_path: Path) -> None:
    other = _other_model(model_path, tmp_path)
    graph = packed([random_graph(np.random.default_rng(0), 3, 2)])
    refusing = TritonBackend(other, url=server.http_url, model_name="tiny_python")
    with pytest.raises(TritonModelError, match="checksum .* another model"):
        refusing.run(graph)
    warning = TritonBackend(
        other, url=server.http_url, model_name="tiny_python", checksum_policy="warn"
    )
    with pytest.warns(RuntimeWarning, match="another model"):
        warning.run(graph)
    with pytest.raises(TritonModelError, match="no ready model .* serves"):
        TritonBackend(other, url=server.http_url).run(graph)
    for client in (refusing, warning):
        client.close()
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_answer_with_a_row_too_many_is_refused(server, model_path: Path) -> None:
    """Too many rows used to be dropped silently: the answer is checked against the spec."""
    graphs = packed([random_graph(np.random.default_rng(0), n, 2) for n in (3, 4, 5)])
    for protocol in PROTOCOLS:
        with (
            TritonBackend(
                model_path,
                url=_url(server, protocol),
                protocol=protocol,
                model_name="tiny_liar",
                checksum_policy="warn",
            ) as client,
            pytest.warns(RuntimeWarning, match="another model"),
            pytest.raises(
                TritonModelError,
                match=r"'tiny_liar' .* returned 'scores' with shape \(4, 1\), expected "
                r"\(graphs=3, 1\); one row per graph",
            ),
        ):
            client.run(graphs)


def test_template_runs_a_model_that_is_not_thread_safe_on_one_thread(server) -> None:
    """tiny_python's config asks for 2 intra-op threads; its model is not thread-safe."""
    log = server.log_path.read_text(errors="replace")
    assert "tiny_python: the model is not thread-safe" in log
    assert "running it on 1 intra-op thread, not 2" in log
