"""Load: 8 concurrent clients x 500 requests against one real tritonserver."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from _helpers import mixed_graphs, packed, reference

from e2e_gnn.runtime.triton_backend import TritonBackend

pytestmark = pytest.mark.triton
CLIENTS, REQUESTS = 8, 500


def test_eight_clients_500_requests(server, model_path: Path, local, rng, record_property) -> None:
    graphs = mixed_graphs(rng, 50)
    expected = reference(local, graphs)

    def client_loop(worker: int) -> int:
        protocol = "grpc" if worker % 2 else "http"
        url = server.grpc_url if protocol == "grpc" else server.http_url
        with TritonBackend(model_path, url=url, protocol=protocol, model_name="tiny_python") as c:
            for i in range(REQUESTS):
                g = (worker * 7 + i) % len(graphs)
                scores = c.run(packed([graphs[g]]))["scores"]
                np.testing.assert_allclose(scores[0], expected[g], rtol=0, atol=1e-5)
        return REQUESTS

    start = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        done = sum(pool.map(client_loop, range(CLIENTS)))
    elapsed = time.monotonic() - start
    assert done == CLIENTS * REQUESTS
    record_property("requests_per_s", round(done / elapsed, 1))
    print(f"\n{done} requests from {CLIENTS} clients in {elapsed:.2f} s: {done / elapsed:.0f}/s")
