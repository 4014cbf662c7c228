"""When to retry a remote call: bounded attempts with exponential backoff.

One policy object decides for the sync and the async paths of a client; the client says
what kind of failure it saw (:class:`Failure`), the policy says how long to wait before
the next attempt or that it is time to give up.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Failure(enum.Enum):
    """What went wrong in one attempt."""

    TIMEOUT = "timeout"  # no answer within the per-request timeout
    UNREACHABLE = "unreachable"  # refused, reset or closed connection; server unavailable
    REFUSED = "refused"  # the server answered with an error: retrying cannot help

    @property
    def retryable(self) -> bool:
        return self is not Failure.REFUSED


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after a failed one, waiting ``backoff_s * 2**attempt``.

    A failing call therefore takes at most
    ``(retries + 1) * timeout + backoff_s * (2**retries - 1)``.
    """

    retries: int = 2
    backoff_s: float = 0.1

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff_s < 0:
            msg = f"need retries >= 0 and backoff_s >= 0, got {self.retries!r}, {self.backoff_s!r}"
            raise ValueError(msg)

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, attempt: int, failure: Failure) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (0-based) before the next one,
        or None when the call should give up."""
        if not failure.retryable or attempt >= self.retries:
            return None
        return self.backoff_s * 2.0**attempt

    def worst_case_s(self, timeout_s: float) -> float:
        """Longest a failing call can take with a per-attempt ``timeout_s``."""
        return self.attempts * timeout_s + self.backoff_s * (2.0**self.retries - 1)
