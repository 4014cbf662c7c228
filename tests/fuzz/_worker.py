"""The fuzz worker: runs calls into e2e_gnn (and its C++ module) in a child process.

The parent (:class:`Worker` in conftest.py) sends ``(function name, args, kwargs)`` pickled
on stdin; the child answers ``("ok", result)`` or ``("error", exception class names along
the MRO, message)``. A segmentation fault or an abort under ASan ends the child, not
pytest: the parent sees the pipe close and fails the one generated case that did it.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import traceback
import warnings
from typing import Any, BinaryIO

import numpy as np

_TAGGERS: dict[tuple[str, str], Any] = {}


def _tagger(path: str, backend: str) -> Any:
    from e2e_gnn import Tagger

    key = (path, backend)
    if key not in _TAGGERS:
        _TAGGERS[key] = Tagger(path, backend=backend)
        _forget_old()
    return _TAGGERS[key]


def _forget_old(keep: int = 6) -> None:
    """Keep the few most recent Taggers (fuzzed model files each make a new one)."""
    while len(_TAGGERS) > keep:
        del _TAGGERS[next(iter(_TAGGERS))]


def read_graphs(path: str, **kwargs: Any) -> Any:
    from e2e_gnn.io import read_graphs as read

    return read(path, **kwargs)


def read_frames(path: str, **kwargs: Any) -> Any:
    from e2e_gnn.io import read_frames as read

    return read(path, **kwargs)


def model_file(path: str, **kwargs: Any) -> Any:
    from e2e_gnn.model_file import ModelFile

    return ModelFile.read(path, **kwargs).spec


def spec_from_json(text: str) -> Any:
    from e2e_gnn.spec import ModelSpec

    return ModelSpec.from_json(text, source="fuzzed spec")


def spec_from_metadata(metadata: dict[str, str]) -> Any:
    from e2e_gnn.spec import ModelSpec

    return ModelSpec.from_metadata(metadata, source="fuzzed metadata")


def native_tagger(path: str) -> Any:
    from e2e_gnn._native_loader import load_native

    tagger = load_native().Tagger(path)
    return tagger.checksum


def tagger_new(path: str, backend: str) -> Any:
    from e2e_gnn import Tagger

    return Tagger(path, backend=backend).spec


def tagger_call(path: str, backend: str, method: str, *args: Any, **kwargs: Any) -> Any:
    return getattr(_tagger(path, backend), method)(*args, **kwargs)


def batch_validate(batch: Any, num_features: int | None = None) -> Any:
    batch.validate(num_features)
    return batch.num_graphs


def from_graphs(graphs: Any, y: Any = None) -> Any:
    from e2e_gnn.graphs.batch import GraphBatch

    return GraphBatch.from_graphs(graphs, y)


def builder(name: str, *args: Any, **kwargs: Any) -> Any:
    from e2e_gnn.graphs import builders

    return getattr(builders, name)(*args, **kwargs)


def native(name: str, *args: Any, **kwargs: Any) -> Any:
    from e2e_gnn._native_loader import load_native

    return getattr(load_native(), name)(*args, **kwargs)


def native_tagger_call(path: str, method: str, *args: Any) -> Any:
    from e2e_gnn._native_loader import load_native

    key = (path, "_native")
    if key not in _TAGGERS:
        _TAGGERS[key] = load_native().Tagger(path)
        _forget_old()
    return getattr(_TAGGERS[key], method)(*args)


def abort() -> None:
    """Die as a segmentation fault would (the harness's own test of crash detection)."""
    os.abort()


def _read(stream: BinaryIO) -> Any:
    header = stream.read(8)
    if len(header) < 8:
        return None
    (size,) = struct.unpack("<Q", header)
    return pickle.loads(stream.read(size))


def _write(stream: BinaryIO, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def main() -> None:
    # the protocol keeps the real stdout; anything the library prints goes to stderr
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    stdin = sys.stdin.buffer
    while (request := _read(stdin)) is not None:
        name, args, kwargs = request
        try:
            reply: tuple[Any, ...] = ("ok", globals()[name](*args, **kwargs))
        except BaseException as err:  # reported to the parent, which judges it
            kinds = [c.__name__ for c in type(err).__mro__]
            reply = ("error", kinds, str(err), traceback.format_exc(limit=4))
        _write(out, reply)


if __name__ == "__main__":
    main()
