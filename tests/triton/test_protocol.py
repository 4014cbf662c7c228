"""The client's checks without a server: answers against the spec, failure kinds, retries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import gevent
import grpc
import numpy as np
import pytest
from _helpers import random_graph
from geventhttpclient.response import HTTPConnectionClosed
from tritonclient.utils import InferenceServerException

from e2e_gnn.checksum import ChecksumError
from e2e_gnn.model_file import ModelFile
from e2e_gnn.ragged import Ragged
from e2e_gnn.runtime.retry import Failure, RetryPolicy
from e2e_gnn.runtime.triton_backend import TritonBackend
from e2e_gnn.runtime.triton_errors import TritonModelError, caught_exceptions, classify
from e2e_gnn.runtime.triton_protocol import (
    check_outputs,
    expected_outputs,
    request_axes,
    served_outputs,
)
from e2e_gnn.spec import TensorSpec
from e2e_gnn.triton.server import free_port

SCORES = TensorSpec("scores", "float32", ("graphs", 2))
NODE_SCORES = TensorSpec("node_scores", "float32", ("nodes", 1))
WHERE = "model 'm' on http://127.0.0.1:1"


def _scores(rows: int, classes: int = 2, dtype: type = np.float32) -> np.ndarray:
    return np.zeros((rows, classes), dtype=dtype)


def test_expected_outputs_from_the_model_file(model_path: Path) -> None:
    """Axis meaning from the spec, static sizes from the ONNX file."""
    assert expected_outputs(ModelFile.read(model_path)) == (
        TensorSpec("scores", "float32", ("graphs", 1)),
    )


def test_served_outputs_from_server_metadata() -> None:
    metadata = {"outputs": [{"name": "scores", "datatype": "FP32", "shape": [-1, 3]}]}
    assert served_outputs(metadata) == (TensorSpec("scores", "float32", ("?", 3)),)
    metadata["outputs"].append({"name": "node_scores", "datatype": "FP32", "shape": [-1, 1]})
    assert served_outputs(metadata, {"node_scores": "nodes"}) == (
        TensorSpec("scores", "float32", ("?", 3)),
        TensorSpec("node_scores", "float32", ("nodes", 1)),
    )


def test_request_axes() -> None:
    graphs = {"x": np.zeros((7, 4)), "batch": np.array([0, 0, 1, 1, 1, 2, 2])}
    assert request_axes(graphs) == {"nodes": 7, "graphs": 3}
    hits = {"hits": np.zeros((3, 4)), "hits_batch": np.array([0, 1, 1])}
    assert request_axes(hits) == {"nodes": 3, "graphs": 2}
    assert request_axes({"frames": np.zeros((5, 2, 8, 8))}) == {"images": 5}


def test_good_outputs_pass() -> None:
    outputs = {"scores": _scores(3), "node_scores": _scores(7, 1), "extra": None}
    checked = check_outputs(outputs, [SCORES, NODE_SCORES], {"graphs": 3, "nodes": 7}, WHERE)
    assert set(checked) == {"scores", "node_scores"}


@pytest.mark.parametrize(
    ("outputs", "match"),
    [
        ({"scores": _scores(4)}, r"shape \(4, 2\), expected \(graphs=3, 2\); one row per graph"),
        ({"scores": _scores(2)}, r"shape \(2, 2\), expected \(graphs=3, 2\); one row per graph"),
        ({"scores": _scores(3, classes=1)}, r"shape \(3, 1\), expected \(graphs=3, 2\)"),
        ({"scores": _scores(3)[:, 0]}, r"shape \(3,\), expected \(graphs=3, 2\)"),
        ({"scores": _scores(3, dtype=np.float64)}, "'scores' as float64, expected float32"),
        ({"scores": None}, r"no output 'scores' \(got \['scores'\]\)"),
        ({}, r"no output 'scores' \(got \[\]\)"),
    ],
    ids=["too-many-rows", "too-few-rows", "classes", "rank", "dtype", "none", "missing"],
)
def test_bad_outputs_are_model_errors(outputs: dict[str, np.ndarray | None], match: str) -> None:
    with pytest.raises(TritonModelError, match=f"^{WHERE} returned .*{match}"):
        check_outputs(outputs, [SCORES], {"graphs": 3, "nodes": 7}, WHERE)


def test_per_node_rows_are_checked() -> None:
    with pytest.raises(TritonModelError, match=r"expected \(nodes=7, 1\); one row per node"):
        check_outputs(
            {"node_scores": _scores(3, 1)}, [NODE_SCORES], {"graphs": 3, "nodes": 7}, WHERE
        )


def test_unknown_axis_takes_any_size() -> None:
    unknown = TensorSpec("scores", "float32", ("?", 2))
    check_outputs({"scores": _scores(5)}, [unknown], {"graphs": 3}, WHERE)


class _RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


@pytest.mark.parametrize(
    ("err", "failure"),
    [
        (InferenceServerException("gone", status="StatusCode.UNAVAILABLE"), Failure.UNREACHABLE),
        (InferenceServerException("slow", status="StatusCode.DEADLINE_EXCEEDED"), Failure.TIMEOUT),
        (
            InferenceServerException("full", status="StatusCode.RESOURCE_EXHAUSTED"),
            Failure.UNREACHABLE,
        ),
        (InferenceServerException("bad", status="StatusCode.INVALID_ARGUMENT"), Failure.REFUSED),
        (InferenceServerException("unknown model", status="400"), Failure.REFUSED),
        (InferenceServerException("busy", status="503"), Failure.UNREACHABLE),
        (InferenceServerException("gateway", status="504"), Failure.TIMEOUT),
        (InferenceServerException("Connection refused: timeout, EOF"), Failure.REFUSED),
        (_RpcError(grpc.StatusCode.UNAVAILABLE), Failure.UNREACHABLE),
        (_RpcError(grpc.StatusCode.DEADLINE_EXCEEDED), Failure.TIMEOUT),
        (_RpcError(grpc.StatusCode.NOT_FOUND), Failure.REFUSED),
        (ConnectionRefusedError(111, "Connection refused"), Failure.UNREACHABLE),
        (ConnectionResetError(104, "reset"), Failure.UNREACHABLE),
        (BrokenPipeError(32, "Broken pipe"), Failure.UNREACHABLE),
        (TimeoutError("timed out"), Failure.TIMEOUT),  # socket.timeout, asyncio's
        (aiohttp.ServerTimeoutError("read timeout"), Failure.TIMEOUT),
        (gevent.Timeout(1.0), Failure.TIMEOUT),
        (HTTPConnectionClosed("connection closed."), Failure.UNREACHABLE),
        (aiohttp.ServerDisconnectedError(), Failure.UNREACHABLE),
        (ValueError("Connection reset: timeout deadline UNAVAILABLE"), Failure.REFUSED),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.value,
)
def test_classify_by_type_and_status(err: BaseException, failure: Failure) -> None:
    """By exception type and status code: message text (last cases) does not count."""
    assert classify(err) is failure


def test_caught_exceptions_include_gevent_timeout() -> None:
    assert issubclass(gevent.Timeout, caught_exceptions())
    assert not issubclass(KeyboardInterrupt, caught_exceptions())
    assert not issubclass(asyncio.CancelledError, caught_exceptions())


def test_retry_policy() -> None:
    policy = RetryPolicy(retries=2, backoff_s=0.1)
    assert [policy.delay(a, Failure.UNREACHABLE) for a in range(3)] == [0.1, 0.2, None]
    assert policy.delay(0, Failure.TIMEOUT) == 0.1
    assert policy.delay(0, Failure.REFUSED) is None
    assert policy.attempts == 3
    assert policy.worst_case_s(1.0) == pytest.approx(3.0 + 0.3)
    with pytest.raises(ValueError, match="retries >= 0"):
        RetryPolicy(retries=-1)


def test_run_graphs_takes_pairs_not_dicts(model_path: Path) -> None:
    client = TritonBackend(model_path, url=f"127.0.0.1:{free_port()}", timeout_s=0.5, retries=0)
    x, edge_index = random_graph(np.random.default_rng(0), 3, 2)
    with pytest.raises(TypeError, match=r"takes \(x, edge_index\) pairs"):
        client.run_graphs([{"x": x, "edge_index": edge_index}])
    client.close()


def test_local_model_changed_after_export_is_refused(
    model_path: Path, tmp_path: Path, changed_after_export
) -> None:
    """The client compares the server's model with the local file, so that file must be
    what was exported: a weight changed since is refused before any request."""
    changed_after_export(model_path, tmp_path / "changed.onnx")
    with pytest.raises(ChecksumError, match="changed after export"):
        TritonBackend(tmp_path / "changed.onnx", url=f"127.0.0.1:{free_port()}")


def test_answers_split_per_graph(model_path: Path) -> None:
    """Answers of two requests: per-graph outputs stacked, per-node outputs a Ragged whose
    graph g holds its nodes' rows (the second request's offsets shifted)."""
    client = TritonBackend(model_path, url=f"127.0.0.1:{free_port()}")
    client._expected, client.outputs = (SCORES, NODE_SCORES), ("scores", "node_scores")
    ptrs = [np.array([0, 2, 3, 7]), np.array([0, 1])]
    answers = [
        {"scores": np.arange(6.0).reshape(3, 2), "node_scores": np.arange(7.0)[:, None]},
        {"scores": np.array([[6.0, 7.0]]), "node_scores": np.array([[7.0]])},
    ]
    result = client._collect(answers, ptrs)
    np.testing.assert_array_equal(result["scores"], np.arange(8.0).reshape(4, 2))
    nodes = result["node_scores"]
    assert isinstance(nodes, Ragged) and len(nodes) == 4
    np.testing.assert_array_equal(nodes.counts, [2, 1, 4, 1])
    np.testing.assert_array_equal(nodes[2], [[3.0], [4.0], [5.0], [6.0]])
    np.testing.assert_array_equal(nodes[3], [[7.0]])
    client.outputs = ("scores", "node_scores")
    client._expected = ()  # no local export: an output with other than one row per graph
    with pytest.raises(TritonModelError, match="8 rows of 'node_scores' for 4 graphs"):
        client._collect(answers, ptrs)
    client.close()
