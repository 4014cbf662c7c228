"""The Triton client's errors, and what kind of failure a client-library exception is.

:func:`classify` decides by exception type and status code, never by message text:

* ``tritonclient.utils.InferenceServerException``: its ``status()`` is the gRPC status
  (``"StatusCode.UNAVAILABLE"``, ...) or the HTTP status code (``"400"``, ``"503"``, ...);
* ``grpc.RpcError``: its ``code()``;
* timeouts: ``TimeoutError`` (``socket.timeout`` of the HTTP client, ``asyncio`` and
  ``aiohttp`` timeouts) and ``gevent.Timeout``;
* unreachable: ``OSError`` (refused, reset, broken pipe), a connection closed mid-answer
  (geventhttpclient's ``HTTPConnectionClosed``, aiohttp's ``ClientConnectionError``).

Everything else is the server (or the client library) refusing the request: no retry.
"""

from __future__ import annotations

from contextlib import suppress
from functools import cache

from e2e_gnn.runtime.retry import Failure

__all__ = [
    "TritonError",
    "TritonModelError",
    "TritonTimeoutError",
    "TritonUnavailableError",
    "caught_exceptions",
    "classify",
]

_TIMEOUT_STATUS = frozenset({"StatusCode.DEADLINE_EXCEEDED", "504"})
_UNREACHABLE_STATUS = frozenset(
    {"StatusCode.UNAVAILABLE", "StatusCode.RESOURCE_EXHAUSTED", "502", "503"}
)


class TritonError(RuntimeError):
    """Base class of the Triton client's errors."""


class TritonUnavailableError(TritonError):
    """The server could not be reached (or answered too slowly) after all retries."""


class TritonTimeoutError(TritonUnavailableError):
    """The last attempt exceeded the per-request timeout."""


class TritonModelError(TritonError):
    """The server is up but the model is missing, not ready, different, refused the input
    or answered with outputs that do not match the model's spec."""


@cache
def _transport_types() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(timeout, unreachable) exception types of the installed client libraries."""
    timeouts: list[type[BaseException]] = [TimeoutError]
    unreachable: list[type[BaseException]] = [OSError]
    with suppress(ImportError):
        import gevent

        timeouts.append(gevent.Timeout)
    with suppress(ImportError):
        from geventhttpclient.response import HTTPConnectionClosed

        unreachable.append(HTTPConnectionClosed)
    with suppress(ImportError):
        import aiohttp

        unreachable.append(aiohttp.ClientConnectionError)
    return tuple(timeouts), tuple(unreachable)


def caught_exceptions() -> tuple[type[BaseException], ...]:
    """What a client call must catch: every Exception, plus ``gevent.Timeout``, which
    derives from BaseException (KeyboardInterrupt and task cancellation pass through)."""
    return (Exception, *_transport_types()[0])


def _from_status(status: str) -> Failure:
    if status in _TIMEOUT_STATUS:
        return Failure.TIMEOUT
    if status in _UNREACHABLE_STATUS:
        return Failure.UNREACHABLE
    return Failure.REFUSED


def classify(err: BaseException) -> Failure:
    """The kind of failure ``err``, raised by a tritonclient call, is."""
    from tritonclient.utils import InferenceServerException

    if isinstance(err, InferenceServerException):
        return _from_status(str(err.status() or ""))
    with suppress(ImportError):
        import grpc

        if isinstance(err, grpc.RpcError) and callable(getattr(err, "code", None)):
            return _from_status(str(err.code()))
    timeouts, unreachable = _transport_types()
    if isinstance(err, timeouts):  # before OSError: TimeoutError is one
        return Failure.TIMEOUT
    if isinstance(err, unreachable):
        return Failure.UNREACHABLE
    return Failure.REFUSED
