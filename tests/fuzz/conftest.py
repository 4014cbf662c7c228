"""Fixtures of the fuzz harness: the worker process (``_fuzz.Worker``) and the counter of
generated cases per entry point, written to ``fuzz_counts.json`` in pytest's base
temporary directory at the end of the session."""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator

import pytest
from _fuzz import Worker


@pytest.fixture(scope="session")
def worker() -> Iterator[Worker]:
    started = Worker()
    yield started
    started.close()


@pytest.fixture(scope="session")
def fuzz_counts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[collections.Counter[str]]:
    """Counter of generated cases by entry point, written to fuzz_counts.json."""
    counts: collections.Counter[str] = collections.Counter()
    yield counts
    path = tmp_path_factory.getbasetemp() / "fuzz_counts.json"
    path.write_text(json.dumps(dict(sorted(counts.items())), indent=1) + "\n")
