"""Faults against a real tritonserver: killed, paused (slow), absent."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from _helpers import mixed_graphs, packed, random_graph, reference

from e2e_gnn.runtime.triton_backend import (
    TritonBackend,
    TritonTimeoutError,
    TritonUnavailableError,
)
from e2e_gnn.triton.server import free_port

pytestmark = pytest.mark.triton


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_killed_mid_stream_retries_then_falls_back(
    own_server, model_path: Path, local, rng, protocol: str
) -> None:
    graphs = mixed_graphs(rng, 120)
    url = own_server.http_url if protocol == "http" else own_server.grpc_url
    client = TritonBackend(
        model_path,
        url=url,
        protocol=protocol,
        timeout_s=2,
        retries=2,
        backoff_s=0.05,
        fallback=local,
    )
    answers = []
    for i, graph in enumerate(graphs):
        if i == 40:
            os.kill(own_server.pid, signal.SIGKILL)
        answers.append(client.run(packed([graph]))["scores"][0])
    client.close()
    assert len(answers) == len(graphs)  # nothing lost, nothing duplicated, in order
    np.testing.assert_allclose(np.stack(answers), reference(local, graphs), rtol=0, atol=1e-5)
    assert client.stats["retries"] == 2
    assert client.stats["fallbacks"] == 80  # every request after the kill, exactly once


def _wait_stopped(pid: int) -> None:
    """SIGSTOP is asynchronous: wait (bounded) until every thread is stopped."""
    for _ in range(100):
        tasks = Path(f"/proc/{pid}/task").iterdir()
        if all("\nState:\tT" in (t / "status").read_text() for t in tasks):
            return
        time.sleep(0.01)
    pytest.fail(f"tritonserver pid {pid} did not stop within 1 s of SIGSTOP")


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_slow_server_times_out_in_time(own_server, model_path: Path, protocol: str) -> None:
    url = own_server.http_url if protocol == "http" else own_server.grpc_url
    client = TritonBackend(
        model_path, url=url, protocol=protocol, timeout_s=1.0, retries=1, backoff_s=0.1
    )
    inputs = packed([random_graph(np.random.default_rng(1), 6, 9)])
    client.run(inputs)  # connected and verified while the server is healthy
    os.kill(own_server.pid, signal.SIGSTOP)  # the server stops answering: "slow"
    try:
        _wait_stopped(own_server.pid)
        start = time.monotonic()
        with pytest.raises(TritonTimeoutError, match="unreachable after 2 attempt"):
            client.run(inputs)
        elapsed = time.monotonic() - start
    finally:
        os.kill(own_server.pid, signal.SIGCONT)
    assert 1.0 <= elapsed < 2 * 1.0 + 0.1 + 1.0  # 2 attempts x timeout + backoff + slack
    np.testing.assert_equal(client.run(inputs)["scores"].shape, (1, 1))  # recovers
    client.close()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_server_not_started(model_path: Path, protocol: str) -> None:
    url = f"127.0.0.1:{free_port()}"
    client = TritonBackend(
        model_path, url=url, protocol=protocol, timeout_s=1.0, retries=1, backoff_s=0.1
    )
    start = time.monotonic()
    with pytest.raises(TritonUnavailableError, match=f"on {protocol}://{url} unreachable after 2"):
        client.run(packed([random_graph(np.random.default_rng(1), 3, 2)]))
    assert time.monotonic() - start < 2 * 1.0 + 0.1 + 1.0
    assert not client.is_live()
    client.close()


def test_fallback_to_a_second_server(server, model_path: Path, local, rng) -> None:
    """Primary server absent: the answers come from the second server, correct."""
    second = TritonBackend(model_path, url=server.grpc_url, protocol="grpc")
    primary = TritonBackend(
        model_path,
        url=f"127.0.0.1:{free_port()}",
        timeout_s=1.0,
        retries=1,
        backoff_s=0.05,
        fallback=second,
    )
    graphs = mixed_graphs(rng, 12)
    served = primary.run_graphs(graphs)["scores"]
    np.testing.assert_allclose(served, reference(local, graphs), rtol=0, atol=1e-5)
    assert primary.stats["fallbacks"] == 1 and second.stats["requests"] == 1
    primary.close()
    second.close()


def test_local_fallback_by_name(model_path: Path, local, rng) -> None:
    """``Tagger(..., backend="triton", fallback="onnxruntime")`` scores locally when the
    server is unreachable; the client itself takes backend objects only."""
    from e2e_gnn import GraphBatch, Tagger

    url = f"127.0.0.1:{free_port()}"
    graphs = mixed_graphs(rng, 5)
    options = {"url": url, "timeout_s": 0.5, "retries": 0}
    with Tagger(model_path, backend="triton", fallback="onnxruntime", **options) as tagger:
        served = tagger(GraphBatch.from_graphs(graphs))
    np.testing.assert_allclose(served, reference(local, graphs), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="fallback 'torch' is not a local backend"):
        Tagger(model_path, backend="triton", fallback="torch", url=url)
    with pytest.raises(TypeError, match="fallback must be a backend object"):
        TritonBackend(model_path, fallback="onnxruntime")


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_async_unreachable_then_fallback(model_path: Path, local, rng, protocol: str) -> None:
    url = f"127.0.0.1:{free_port()}"
    graphs = mixed_graphs(rng, 16)

    async def score(client: TritonBackend) -> dict[str, np.ndarray]:
        try:
            return await client.run_graphs_async(graphs)
        finally:
            await client.aclose()

    alone = TritonBackend(model_path, url=url, protocol=protocol, timeout_s=1.0, retries=1)
    start = time.monotonic()
    with pytest.raises(TritonUnavailableError, match="unreachable after 2 attempt"):
        asyncio.run(score(alone))
    assert time.monotonic() - start < 2 * 1.0 + 0.1 + 1.0
    backed = TritonBackend(
        model_path, url=url, protocol=protocol, timeout_s=1.0, retries=1, fallback=local
    )
    backed.max_graphs_per_request = 4
    served = asyncio.run(score(backed))["scores"]
    np.testing.assert_allclose(served, reference(local, graphs), rtol=0, atol=1e-5)
    assert backed.stats["fallbacks"] == 4
