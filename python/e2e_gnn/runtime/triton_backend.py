"""The ``triton`` backend: a Triton Inference Server client that survives faults.

:class:`TritonBackend` has the runtime backend interface (``run(inputs) -> outputs``,
``metadata``, ``close()``) and adds what a production client needs (CMSSW SonicTriton is
the bar):

* HTTP or gRPC (``protocol``), sync :meth:`~TritonBackend.run` and async
  :meth:`~TritonBackend.run_async` (many requests in flight on one event loop);
* a per-request timeout, bounded retries with exponential backoff (one
  :class:`~e2e_gnn.runtime.retry.RetryPolicy` for both, failures classified by the client
  library's exception types: :func:`~e2e_gnn.runtime.triton_errors.classify`), and an
  optional ``fallback`` backend (a second :class:`TritonBackend`, or a local
  onnxruntime/native one) used when the server stays unreachable; after a fallback the
  server is left alone for ``cooldown_s`` so a dead server does not cost retries every call;
* health/readiness (:meth:`~TritonBackend.is_ready`), model discovery
  (:meth:`~TritonBackend.models`; ``model_name=None`` finds the served model whose checksum
  and inputs match the local export), and a checksum check of the served model against the
  local ``.onnx``, itself verified at load (``checksum_policy="refuse"`` or ``"warn"``);
* every answer checked against the model's spec (outputs, dtype, one row per graph or node:
  :func:`~e2e_gnn.runtime.triton_protocol.check_outputs`);
* client-side ragged batching: :meth:`~TritonBackend.run_graphs` packs many graphs (or hit
  collections, for the hits ensemble, and graph features ``u``) with
  :meth:`GraphBatch.from_graphs` into few requests and returns every output: per-graph
  outputs [G, C], per-node outputs split per graph as a :class:`~e2e_gnn.ragged.Ragged`.
  :meth:`~TritonBackend.run` returns outputs flat, as every runtime backend does (per-node
  outputs [N, C], checked to have one row per node sent).

This module does not import torch; tritonclient is imported when a backend is created.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.model_file import ModelFile
from e2e_gnn.ragged import Ragged
from e2e_gnn.runtime.retry import Failure, RetryPolicy
from e2e_gnn.runtime.triton_errors import (
    TritonError,
    TritonModelError,
    TritonTimeoutError,
    TritonUnavailableError,
    caught_exceptions,
    classify,
)
from e2e_gnn.runtime.triton_protocol import (
    HITS_INPUTS,
    OUTPUT_ROWS_KEY,
    TRITON_DTYPES,
    check_outputs,
    expected_outputs,
    request_axes,
    served_outputs,
)
from e2e_gnn.spec import CHECKSUM_KEY, GRAPH_FEATURE_INPUT, VERSION_KEY, TensorSpec

__all__ = [
    "TritonBackend",
    "TritonError",
    "TritonModelError",
    "TritonTimeoutError",
    "TritonUnavailableError",
]

log = logging.getLogger(__name__)
_NO_EDGES = np.empty((2, 0), dtype=np.int64)


class Runner(Protocol):
    """What a fallback needs: the ``run`` of a runtime backend."""

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class TritonBackend:
    """Run a model served by Triton; the ``triton`` backend of the runtime.

    Args:
        model_path: the local export (``.onnx``). Gives input/output names, the spec the
            answers are checked against and the checksum the served model must match; may
            be None when ``model_name`` is given.
        url: ``host:port`` of the server (HTTP port for ``protocol="http"``, gRPC port for
            ``"grpc"``).
        protocol: ``"http"`` or ``"grpc"``.
        model_name: served model; None discovers a ready model whose checksum and inputs
            match ``model_path``.
        model_version: served version (``""`` = the server's policy, usually latest).
        timeout_s: per-request timeout (connect + answer), seconds.
        retries: retries after a failed attempt (attempts = retries + 1).
        backoff_s: first backoff; doubled after each retry.
        fallback: backend used when the server stays unreachable: a backend object (e.g. a
            second TritonBackend, or a local ``OnnxRuntimeBackend``/``NativeBackend``:
            ``Tagger(..., backend="triton", fallback="onnxruntime")`` builds one), or None
            (raise).
        checksum_policy: ``"refuse"`` (raise on mismatch) or ``"warn"``.
        cooldown_s: after a fallback, how long calls go straight to the fallback.
        max_graphs_per_request: :meth:`run_graphs` chunk size (None: all in one request).
        compression: ``None``, ``"gzip"`` or ``"deflate"``: compress requests and responses
            (worth it for large batches over a slow network, not on loopback).
        verify_checksum: recompute the local export's checksum from its graph and weights
            at load and refuse a file changed after export (skip for very large models).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        url: str = "127.0.0.1:8000",
        protocol: str = "http",
        model_name: str | None = None,
        model_version: str = "",
        timeout_s: float = 10.0,
        retries: int = 2,
        backoff_s: float = 0.1,
        fallback: Runner | None = None,
        checksum_policy: str = "refuse",
        cooldown_s: float = 5.0,
        max_graphs_per_request: int | None = None,
        compression: str | None = None,
        verify_checksum: bool = True,
    ) -> None:
        if protocol not in ("http", "grpc"):
            msg = f"TritonBackend protocol {protocol!r} is not supported, use 'http' or 'grpc'"
            raise ValueError(msg)
        if checksum_policy not in ("refuse", "warn"):
            msg = f"checksum_policy {checksum_policy!r} is not supported, use 'refuse' or 'warn'"
            raise ValueError(msg)
        if timeout_s <= 0:
            msg = f"need timeout_s > 0, got {timeout_s!r}"
            raise ValueError(msg)
        if compression not in (None, "gzip", "deflate"):
            msg = f"compression {compression!r} is not supported, use None, 'gzip' or 'deflate'"
            raise ValueError(msg)
        if model_path is None and model_name is None:
            msg = "TritonBackend needs model_path (the local export) or model_name"
            raise ValueError(msg)
        if url.startswith(("http://", "grpc://")):
            url = url.split("://", 1)[1]
        self.url, self.protocol = url, protocol
        self.retry = RetryPolicy(retries, backoff_s)
        self.local = (
            ModelFile.read(model_path, verify_checksum=verify_checksum)
            if model_path is not None
            else None
        )
        self.model_name = model_name
        self.model_version = model_version
        self.timeout_s = timeout_s
        if isinstance(fallback, str):
            msg = (
                f"TritonBackend's fallback must be a backend object, not {fallback!r}: build "
                f"it (e.g. OnnxRuntimeBackend(model_path)) or use "
                f"Tagger(model_path, backend='triton', fallback={fallback!r})"
            )
            raise TypeError(msg)
        self.fallback = fallback
        self.checksum_policy = checksum_policy
        self.cooldown_s = cooldown_s
        self.max_graphs_per_request = max_graphs_per_request
        self.compression = compression
        self.inputs: tuple[str, ...] = self.local.input_names if self.local else ()
        self.outputs: tuple[str, ...] = self.local.output_names if self.local else ()
        #: the local export's ONNX metadata_props (the runtime Backend interface)
        self.metadata: dict[str, str] = self.local.metadata if self.local else {}
        self._expected: tuple[TensorSpec, ...] = expected_outputs(self.local) if self.local else ()
        self.stats = {"requests": 0, "retries": 0, "fallbacks": 0}
        self._verified = False
        self._lock = threading.Lock()  # stats and client list
        self._verify_lock = threading.Lock()
        self._local_clients = threading.local()
        self._all_clients: list[Any] = []
        # one async client per event loop: id(loop) -> (loop, client); the loop is kept to
        # tell a live loop from a new one that reuses a finished loop's id
        self._aio_clients: dict[int, tuple[asyncio.AbstractEventLoop, Any]] = {}
        self._down_until = 0.0
        if protocol == "http":
            import tritonclient.http as module
        else:
            import tritonclient.grpc as module
        self._module = module

    # -- connection -----------------------------------------------------------------------
    def _client(self) -> Any:
        client = getattr(self._local_clients, "client", None)
        if client is None:
            if self.protocol == "http":
                client = self._module.InferenceServerClient(
                    self.url, connection_timeout=self.timeout_s, network_timeout=self.timeout_s
                )
            else:
                client = self._module.InferenceServerClient(self.url)
            self._local_clients.client = client
            with self._lock:
                self._all_clients.append(client)
        return client

    def _drop_client(self) -> None:
        client = getattr(self._local_clients, "client", None)
        self._local_clients.client = None
        if client is not None:
            with self._lock:
                if client in self._all_clients:
                    self._all_clients.remove(client)
            try:
                client.close()
            except Exception as err:
                log.debug("closing a broken Triton client: %r", err)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        client = self._client()
        if self.protocol == "grpc":
            kwargs["client_timeout"] = self.timeout_s
            if method in (
                "get_model_config",
                "get_model_metadata",
                "get_model_repository_index",
                "get_inference_statistics",
            ):
                kwargs["as_json"] = True
        result = getattr(client, method)(*args, **kwargs)
        if self.protocol == "grpc" and method == "get_model_config":
            return result.get("config", {})
        if self.protocol == "grpc" and method == "get_model_repository_index":
            return result.get("models", [])
        return result

    def _where(self) -> str:
        version = f" version {self.model_version!r}" if self.model_version else ""
        name = repr(self.model_name) if self.model_name else "(to be discovered)"
        return f"model {name}{version} on {self.protocol}://{self.url}"

    # -- health and discovery -------------------------------------------------------------
    def is_live(self) -> bool:
        """True when the server answers its liveness check within the timeout."""
        try:
            return bool(self._call("is_server_live"))
        except caught_exceptions():
            self._drop_client()
            return False

    def is_ready(self) -> bool:
        """True when the server and the model (if known) are ready."""
        try:
            if not self._call("is_server_ready"):
                return False
            if self.model_name is None:
                return True
            return bool(self._call("is_model_ready", self.model_name, self.model_version))
        except caught_exceptions():
            self._drop_client()
            return False

    def models(self) -> list[dict[str, str]]:
        """The server's model repository index: ``[{name, version, state}, ...]``."""
        return [dict(m) for m in self._call("get_model_repository_index")]

    def statistics(self) -> dict[str, Any]:
        """The server's inference statistics of this model (counts, queue and compute time)."""
        self._verify()
        stats = self._call("get_inference_statistics", self.model_name, self.model_version)
        entries = stats.get("model_stats", [])
        return dict(entries[0]) if entries else {}

    def served_identity(self, name: str) -> dict[str, str]:
        """Checksum, version and output rows the served model's config carries (the keys
        absent from it are left out)."""
        params = self._call("get_model_config", name, self.model_version).get("parameters", {})
        return {
            key: params[key].get("string_value", "")
            for key in (CHECKSUM_KEY, VERSION_KEY, OUTPUT_ROWS_KEY)
            if key in params
        }

    def _discover(self) -> str:
        assert self.local is not None
        ready = [m for m in self.models() if m.get("state") == "READY"]
        seen = []
        for entry in ready:
            name = entry["name"]
            if self.served_identity(name).get(CHECKSUM_KEY) != self.local.checksum:
                continue
            metadata = self._call("get_model_metadata", name)
            inputs = tuple(t["name"] for t in metadata.get("inputs", []))
            seen.append(name)
            if set(inputs) == set(self.local.input_names):
                return str(name)
        names = sorted({m["name"] for m in ready})
        msg = (
            f"no ready model on {self.protocol}://{self.url} serves {str(self.local.path)!r} "
            f"(checksum {self.local.checksum[:12]}..., inputs {list(self.local.input_names)!r}); "
            f"same checksum: {seen!r}; ready models: {names!r}. Pass model_name=..."
        )
        raise TritonModelError(msg)

    def _verify(self) -> None:
        """Once per backend: model exists and is ready, checksum matches, output names."""
        if self._verified:
            return
        with self._verify_lock:
            if self._verified:
                return
            if self.model_name is None:
                self.model_name = self._discover()
            if not self._call("is_model_ready", self.model_name, self.model_version):
                available = sorted(
                    f"{m['name']}:{m.get('version', '')}({m.get('state', '?')})"
                    for m in self.models()
                )
                msg = (
                    f"{self._where()} is not ready or does not exist; the server has {available!r}"
                )
                raise TritonModelError(msg)
            identity = self.served_identity(self.model_name)
            if self.local is not None:
                served = identity.get(CHECKSUM_KEY)
                if served != self.local.checksum:
                    msg = (
                        f"{self._where()} has checksum {served!r} but the local export "
                        f"{str(self.local.path)!r} has {self.local.checksum!r}: the server runs "
                        f"another model. Redeploy with `e2e-gnn export-onnx --triton-repo` or "
                        f"use checksum_policy='warn'."
                    )
                    if self.checksum_policy == "refuse":
                        raise TritonModelError(msg)
                    warnings.warn(msg, RuntimeWarning, stacklevel=3)
            metadata = self._call("get_model_metadata", self.model_name, self.model_version)
            self.inputs = tuple(t["name"] for t in metadata.get("inputs", [])) or self.inputs
            self.outputs = tuple(t["name"] for t in metadata.get("outputs", [])) or self.outputs
            rows = json.loads(identity.get(OUTPUT_ROWS_KEY, "{}"))
            self._expected = self._expected or served_outputs(metadata, rows)
            self._verified = True

    # -- inference ------------------------------------------------------------------------
    def _infer_inputs(self, inputs: Mapping[str, np.ndarray]) -> list[Any]:
        if self.inputs and set(inputs) != set(self.inputs):
            msg = f"{self._where()} takes inputs {list(self.inputs)!r}, got {sorted(inputs)!r}"
            raise TritonModelError(msg)
        infer_inputs = []
        for name, value in inputs.items():
            array = np.ascontiguousarray(value)
            if array.dtype not in TRITON_DTYPES:
                msg = (
                    f"input {name!r} for {self._where()} has dtype {array.dtype!r}; "
                    f"use one of {sorted(str(d) for d in TRITON_DTYPES)}"
                )
                raise TritonModelError(msg)
            tensor = self._module.InferInput(name, list(array.shape), TRITON_DTYPES[array.dtype])
            tensor.set_data_from_numpy(array)
            infer_inputs.append(tensor)
        return infer_inputs

    def _requested_outputs(self) -> list[Any]:
        return [self._module.InferRequestedOutput(name) for name in self.outputs]

    def _infer_options(self) -> dict[str, Any]:
        if self.compression is None:
            return {}
        if self.protocol == "grpc":
            return {"compression_algorithm": self.compression}
        return {
            "request_compression_algorithm": self.compression,
            "response_compression_algorithm": self.compression,
        }

    def _answer(self, result: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = {name: result.as_numpy(name) for name in self.outputs}
        return check_outputs(outputs, self._expected, request_axes(inputs), self._where())

    def _infer_once(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._verify()
        assert self.model_name is not None
        kwargs = self._infer_options()
        if self.protocol == "grpc":
            kwargs["client_timeout"] = self.timeout_s
        result = self._client().infer(
            self.model_name,
            self._infer_inputs(inputs),
            model_version=self.model_version,
            outputs=self._requested_outputs(),
            **kwargs,
        )
        return self._answer(result, inputs)

    def _after_failure(self, err: BaseException, attempt: int, start: float) -> float | None:
        """Seconds to wait before the next attempt, or None to use the fallback; raises
        TritonModelError for a refused request and TritonUnavailableError when out of
        attempts without a fallback."""
        failure = classify(err)
        if failure is Failure.REFUSED:
            msg = f"{self._where()} refused the request: {type(err).__name__}: {err}"
            raise TritonModelError(msg) from err
        delay = self.retry.delay(attempt, failure)
        if delay is not None:
            with self._lock:
                self.stats["retries"] += 1
            return delay
        if self.fallback is not None:
            log.warning("%s unavailable (%s): using fallback %r", self._where(), err, self.fallback)
            with self._lock:
                self._down_until = time.monotonic() + self.cooldown_s
            return None
        kind = TritonTimeoutError if failure is Failure.TIMEOUT else TritonUnavailableError
        msg = (
            f"{self._where()} unreachable after {attempt + 1} attempt(s) in "
            f"{time.monotonic() - start:.2f} s (timeout_s={self.timeout_s}, "
            f"retries={self.retry.retries}): {type(err).__name__}: {err}. Is tritonserver "
            f"running there (`e2e-gnn serve`)? Pass fallback=... to continue on a local backend."
        )
        raise kind(msg) from err

    def _use_fallback(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.fallback is not None
        with self._lock:
            self.stats["fallbacks"] += 1
        return self.fallback.run(dict(inputs))

    def _cooling_down(self) -> bool:
        with self._lock:
            self.stats["requests"] += 1
        return self.fallback is not None and time.monotonic() < self._down_until

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One inference request with timeout, retries, backoff and fallback."""
        if self._cooling_down():
            return self._use_fallback(inputs)
        start = time.monotonic()
        for attempt in itertools.count():
            try:
                return self._infer_once(inputs)
            except TritonModelError:
                raise
            except caught_exceptions() as err:
                self._drop_client()
                delay = self._after_failure(err, attempt, start)
                if delay is None:
                    break
                time.sleep(delay)
        return self._use_fallback(inputs)

    # -- async ----------------------------------------------------------------------------
    def _aio_client(self) -> Any:
        loop = asyncio.get_running_loop()
        known_loop, client = self._aio_clients.get(id(loop), (None, None))
        if client is None or known_loop is not loop:
            if self.protocol == "http":
                import tritonclient.http.aio as aio

                client = aio.InferenceServerClient(self.url, conn_timeout=self.timeout_s)
            else:
                import tritonclient.grpc.aio as aio

                client = aio.InferenceServerClient(self.url)
            self._aio_clients[id(loop)] = (loop, client)
        return client

    async def _drop_aio_client(self) -> None:
        loop = asyncio.get_running_loop()
        known_loop, client = self._aio_clients.pop(id(loop), (None, None))
        if client is not None and known_loop is loop:
            try:
                await client.close()
            except Exception as err:
                log.debug("closing a broken Triton aio client: %r", err)

    async def _infer_once_async(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self._verified:
            await asyncio.wait_for(asyncio.to_thread(self._verify), self.timeout_s * 4)
        assert self.model_name is not None
        call = self._aio_client().infer(
            self.model_name,
            self._infer_inputs(inputs),
            model_version=self.model_version,
            outputs=self._requested_outputs(),
            **self._infer_options(),
        )
        return self._answer(await asyncio.wait_for(call, self.timeout_s), inputs)

    async def run_async(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Like :meth:`run`, as a coroutine: gather many of these to keep requests in flight."""
        if self._cooling_down():
            return await asyncio.to_thread(self._use_fallback, inputs)
        start = time.monotonic()
        for attempt in itertools.count():
            try:
                return await self._infer_once_async(inputs)
            except TritonModelError:
                raise
            except caught_exceptions() as err:
                await self._drop_aio_client()
                delay = self._after_failure(err, attempt, start)
                if delay is None:
                    break
                await asyncio.sleep(delay)
        return await asyncio.to_thread(self._use_fallback, inputs)

    # -- ragged batching ------------------------------------------------------------------
    def _pack(
        self, items: Sequence[Any], u: np.ndarray | None
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """One request for ``items`` (and their graph features ``u``) and its node offsets."""
        if items and isinstance(items[0], Mapping):
            msg = (
                "run_graphs takes (x, edge_index) pairs as GraphBatch.from_graphs does "
                "(or hit arrays [n, F] for the hits ensemble), not dicts"
            )
            raise TypeError(msg)
        if HITS_INPUTS[0] in self.inputs:
            hits = GraphBatch.from_graphs(((h, _NO_EDGES) for h in items), u=u)
            feed = dict(zip(HITS_INPUTS, (hits.x, hits.batch), strict=True))
            if hits.u is not None:
                feed[GRAPH_FEATURE_INPUT.name] = hits.u
            return feed, hits.node_ptr
        batch = GraphBatch.from_graphs(items, u=u)
        return batch.inputs(), batch.node_ptr

    def _chunks(
        self, items: Sequence[Any], u: np.ndarray | None
    ) -> list[tuple[Sequence[Any], np.ndarray | None]]:
        if not items:
            msg = "run_graphs needs at least one graph"
            raise ValueError(msg)
        if u is not None:
            u = np.asarray(u, dtype=np.float32)
            if u.ndim != 2 or len(u) != len(items):
                msg = (
                    f"graph features u have shape {list(u.shape)!r}; expected one row per "
                    f"graph ({len(items)} graphs)"
                )
                raise ValueError(msg)
        size = self.max_graphs_per_request or max(len(items), 1)
        return [
            (items[i : i + size], None if u is None else u[i : i + size])
            for i in range(0, len(items), size)
        ]

    def _collect(
        self, answers: Sequence[Mapping[str, np.ndarray]], ptrs: Sequence[np.ndarray]
    ) -> dict[str, np.ndarray | Ragged]:
        """The answers of consecutive requests as one result: per-graph outputs stacked
        [G, C], per-node outputs as a Ragged of G graphs (graph g: its nodes' rows)."""
        per_node = {t.name for t in self._expected if t.per_node}
        graphs = sum(len(ptr) - 1 for ptr in ptrs)
        result: dict[str, np.ndarray | Ragged] = {}
        for name in self.outputs:
            parts = [answer[name] for answer in answers]
            if name in per_node:
                result[name] = Ragged.concatenate(
                    [Ragged(part, ptr) for part, ptr in zip(parts, ptrs, strict=True)]
                )
                continue
            result[name] = np.concatenate(parts)
            if len(result[name]) != graphs:  # a per-node output the client cannot tell
                msg = (
                    f"{self._where()} returned {len(result[name])} rows of {name!r} for "
                    f"{graphs} graphs; pass model_path (the local export) so the client knows "
                    f"which outputs are per node"
                )
                raise TritonModelError(msg)
        return result

    def run_graphs(
        self, items: Sequence[Any], u: np.ndarray | None = None
    ) -> dict[str, np.ndarray | Ragged]:
        """Score many graphs with few requests: every output, in the graphs' order; a
        per-graph output as [G, C], a per-node output as a :class:`~e2e_gnn.ragged.Ragged`
        of G graphs (``result[name][g]``: graph g's rows, one per node or hit, in order).

        ``items`` are ``(x [n, F], edge_index [2, e])`` pairs for a GNN (as
        :meth:`GraphBatch.from_graphs` takes them), or hit arrays [n, F] for the hits
        ensemble; ``u`` [G, F_u]: the graph features of a model that takes them.
        """
        if not self._verified and time.monotonic() >= self._down_until:
            self._verify_or_fallback()
        packed = [self._pack(chunk, rows) for chunk, rows in self._chunks(items, u)]
        answers = [self.run(inputs) for inputs, _ in packed]
        return self._collect(answers, [ptr for _, ptr in packed])

    async def run_graphs_async(
        self, items: Sequence[Any], u: np.ndarray | None = None
    ) -> dict[str, np.ndarray | Ragged]:
        """:meth:`run_graphs` with all chunks in flight at once."""
        if not self._verified and time.monotonic() >= self._down_until:
            await asyncio.to_thread(self._verify_or_fallback)
        packed = [self._pack(chunk, rows) for chunk, rows in self._chunks(items, u)]
        answers = await asyncio.gather(*(self.run_async(inputs) for inputs, _ in packed))
        return self._collect(answers, [ptr for _, ptr in packed])

    def _verify_or_fallback(self) -> None:
        """Learn the input names before packing; an unreachable server is left to run()."""
        try:
            self._verify()
        except TritonModelError:
            raise
        except caught_exceptions() as err:
            self._drop_client()
            log.debug("%s: verification deferred: %r", self._where(), err)

    def close(self) -> None:
        """Close every connection this backend opened (threads' and event loops' clients)."""
        with self._lock:
            clients, self._all_clients = self._all_clients, []
        for client in clients:
            try:
                client.close()
            except Exception as err:
                log.debug("closing Triton client: %r", err)
        self._local_clients = threading.local()
        self._aio_clients.clear()

    async def aclose(self) -> None:
        """Close the async client of the running event loop, then everything else."""
        await self._drop_aio_client()
        self.close()

    def __enter__(self) -> TritonBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"TritonBackend({self.model_name!r}, url={self.url!r}, protocol={self.protocol!r}, "
            f"timeout_s={self.timeout_s}, retries={self.retry.retries}, "
            f"fallback={self.fallback!r})"
        )
