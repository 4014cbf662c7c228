"""The harness itself: a crash in the worker fails the case, and the next case runs."""

from __future__ import annotations

import pytest
from _fuzz import Worker, WorkerCrash


def test_a_crash_fails_the_case_not_the_session(worker: Worker) -> None:
    with pytest.raises(WorkerCrash, match=r"died \(exit -6\) running abort"):
        worker.call("abort")
    assert worker.call("native", "intra_op_threads", 1, {}, "m").ok
