"""The fuzz harness's worker process and its property check.

Every generated case runs in one long-lived child process (``_worker.py``): a crash of the
C++ module (segmentation fault, ASan abort) fails that case instead of killing pytest, and
the next case starts a fresh child.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("_worker.py")
# Errors a user may get: the builtin kinds a caller catches, or e2e_gnn's own.
CLEAR_ERRORS = ("ValueError", "TypeError", "KeyError", "OSError", "InputFileError", "SpecError")


class WorkerCrash(AssertionError):
    """The child died while running a case."""


class Reply:
    def __init__(self, raw: tuple[Any, ...]) -> None:
        self.ok = raw[0] == "ok"
        self.value = raw[1] if self.ok else None
        self.kinds: list[str] = [] if self.ok else raw[1]
        self.message: str = "" if self.ok else raw[2]
        self.traceback: str = "" if self.ok else raw[3]

    def __repr__(self) -> str:
        if self.ok:
            return f"Reply(ok, {self.value!r:.200})"
        return f"Reply({self.kinds[0]}: {self.message})\n{self.traceback}"


class Worker:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        return subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )

    def call(self, name: str, *args: Any, **kwargs: Any) -> Reply:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        data = pickle.dumps((name, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            proc.stdin.write(struct.pack("<Q", len(data)) + data)
            proc.stdin.flush()
            header = proc.stdout.read(8)
        except BrokenPipeError:
            header = b""
        if len(header) < 8:
            proc.kill()
            _, err = proc.communicate()
            self._proc = None
            msg = (
                f"the worker died (exit {proc.returncode}) running {name}: "
                f"{err.decode(errors='replace')[-3000:]}"
            )
            raise WorkerCrash(msg)
        (size,) = struct.unpack("<Q", header)
        return Reply(pickle.loads(proc.stdout.read(size)))

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait(timeout=30)
            if self._proc.stderr is not None:
                self._proc.stderr.close()
            if self._proc.stdout is not None:
                self._proc.stdout.close()


def assert_clear_error(reply: Reply, *names: str) -> None:
    """The case was refused with a clear error whose message names one of ``names``."""
    assert not reply.ok, f"accepted: {reply!r}"
    assert any(kind in CLEAR_ERRORS for kind in reply.kinds), f"unclear error {reply!r}"
    # one line, but for the branch list of MissingBranchError and pybind11's own TypeError
    # for arguments of the wrong Python type, which lists the signatures
    one_line = "\n" not in reply.message.strip()
    assert one_line or "lacks" in reply.message or "incompatible function" in reply.message, reply
    assert any(name in reply.message for name in names), f"{reply!r} names none of {names}"
