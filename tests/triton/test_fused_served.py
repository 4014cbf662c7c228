"""A model exported with fused operators (domain ai.e2e_gnn), served by the python-backend
entry on a real tritonserver: the server's onnxruntime loads e2e_gnn's operator library and
gives the native runtime's scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.runtime.backends import NativeBackend
from e2e_gnn.runtime.triton_backend import TritonBackend

pytestmark = pytest.mark.triton


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_fused_model_served_equals_native(
    server, fused_tagger_export: Path, make_graphs, protocol: str
) -> None:
    url = server.http_url if protocol == "http" else server.grpc_url
    batch = make_graphs([1, 7, 40, 3], len(TOY_GRAPH_SPEC.feature_names), seed=11)
    native = NativeBackend(fused_tagger_export).run(batch.inputs())
    with TritonBackend(fused_tagger_export, url=url, protocol=protocol) as client:
        served = client.run(batch.inputs())
        assert client.model_name == "tiny_fused_python"
    np.testing.assert_allclose(served["scores"], native["scores"], atol=1e-6, rtol=0)
