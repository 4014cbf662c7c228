"""The model checksum: sha256 of an ONNX file's graph (operators and weights).

An ONNX file is a serialized ``ModelProto``. Its field 7 (``graph``) holds the serialized
``GraphProto`` byte for byte, and ``GraphProto`` has no map fields, so these bytes equal
``model.graph.SerializeToString(deterministic=True)``, what export writes into the
``e2e_gnn.checksum`` metadata (field 14, ``metadata_props``). Verifying needs only the
top-level fields of the file: no onnx library, and the same walk in C++
(``cpp/src/checksum.cpp``), which :class:`e2e_gnn._native.Session` runs at load.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from e2e_gnn.spec import CHECKSUM_KEY, SpecError

_GRAPH = 7  # ModelProto.graph
_METADATA = 14  # ModelProto.metadata_props: StringStringEntryProto, key = 1, value = 2
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class ChecksumError(SpecError):
    """A model's graph does not hash to its ``e2e_gnn.checksum``, or it has none."""


class _Malformed(Exception):
    """Raised by the walker; turned into a SpecError naming the file."""


def _varint(data: memoryview, pos: int, offset: int) -> tuple[int, int]:
    start, value = pos, 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            msg = f"truncated varint at byte {offset + start}"
            raise _Malformed(msg)
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
    msg = f"varint longer than 10 bytes at byte {offset + start}"
    raise _Malformed(msg)


def _fields(data: memoryview, offset: int = 0) -> list[tuple[int, int, memoryview | None]]:
    """(field number, payload offset, payload) of every field of one protobuf message;
    payload is None unless the field is length-delimited. ``offset`` locates ``data`` in
    the file, for the error messages."""
    fields: list[tuple[int, int, memoryview | None]] = []
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _varint(data, pos, offset)
        number, wire = key >> 3, key & 7
        if number == 0:
            msg = f"field number 0 at byte {offset + start}"
            raise _Malformed(msg)
        payload, payload_at = None, 0
        if wire == _VARINT:
            _, pos = _varint(data, pos, offset)
        elif wire in (_FIXED64, _FIXED32):
            pos += 8 if wire == _FIXED64 else 4
        elif wire == _BYTES:
            size, pos = _varint(data, pos, offset)
            payload = data[pos : pos + size]
            payload_at = offset + pos
            pos += size
        else:
            msg = f"field {number} has wire type {wire} at byte {offset + start}"
            raise _Malformed(msg)
        if pos > len(data):
            end = offset + len(data)
            msg = f"field {number} at byte {offset + start} runs past its message's end {end}"
            raise _Malformed(msg)
        fields.append((number, payload_at, payload))
    return fields


def _read(path_or_bytes: str | Path | bytes) -> tuple[memoryview, str]:
    if isinstance(path_or_bytes, bytes):
        return memoryview(path_or_bytes), "<bytes>"
    path = Path(path_or_bytes)
    if not path.is_file():
        msg = f"model file {str(path)!r} does not exist"
        raise FileNotFoundError(msg)
    return memoryview(path.read_bytes()), str(path)


def _checksums(data: memoryview, name: str) -> tuple[str, str | None]:
    """(sha256 of the graph field, the stored e2e_gnn.checksum or None)."""
    try:
        fields = _fields(data)
        graphs = [payload for number, _, payload in fields if number == _GRAPH]
        if len(graphs) != 1:
            msg = f"it has {len(graphs)} graph fields (ModelProto field 7), expected one"
            raise _Malformed(msg)
        if graphs[0] is None:
            msg = "its graph field (ModelProto field 7) is not length-delimited"
            raise _Malformed(msg)
        stored = []
        for number, at, payload in fields:
            if number != _METADATA:
                continue
            if payload is None:
                msg = "metadata_props is not length-delimited"
                raise _Malformed(msg)
            entry = {n: p for n, _, p in _fields(payload, at) if p is not None}
            if bytes(entry.get(1, b"")) == CHECKSUM_KEY.encode():
                stored.append(bytes(entry.get(2, b"")).decode("utf-8", "replace"))
    except _Malformed as err:
        msg = f"cannot load {name!r} as an ONNX model: {err}"
        raise SpecError(msg) from None
    if len(stored) > 1:
        msg = f"model {name!r} has {len(stored)} {CHECKSUM_KEY!r} metadata entries, expected one"
        raise ChecksumError(msg)
    return hashlib.sha256(graphs[0]).hexdigest(), stored[0] if stored else None


def model_checksum(path_or_bytes: str | Path | bytes) -> str:
    """sha256 (hex) of the model's graph, as written at export; raises SpecError for a
    file that is not an ONNX model."""
    return _checksums(*_read(path_or_bytes))[0]


def stored_checksum(path_or_bytes: str | Path | bytes) -> str | None:
    """The model's ``e2e_gnn.checksum`` metadata, or None when it has none."""
    return _checksums(*_read(path_or_bytes))[1]


def verify_checksum(
    path: str | Path, metadata: dict[str, str] | None = None, *, data: bytes | None = None
) -> None:
    """Raise :class:`ChecksumError` unless the graph of the model at ``path`` hashes to
    its ``e2e_gnn.checksum`` (from ``metadata`` when given, e.g. already read by
    ONNX Runtime, else from the file). ``data``: the file's bytes, when already read."""
    data_view, name = _read(path) if data is None else (memoryview(data), str(path))
    computed, stored = _checksums(data_view, name)
    if metadata is not None:
        stored = metadata.get(CHECKSUM_KEY)
    if not stored:
        msg = (
            f"model {name!r} has no {CHECKSUM_KEY!r} metadata, so its weights cannot be "
            "verified: export it with e2e-gnn export-onnx (or pass verify_checksum=False "
            "to load it unverified)"
        )
        raise ChecksumError(msg)
    if computed != stored:
        msg = (
            f"model {name!r} was changed after export: its graph and weights hash to "
            f"{computed}, its {CHECKSUM_KEY!r} says {stored}; re-export it (or pass "
            "verify_checksum=False to skip this check, e.g. for very large models)"
        )
        raise ChecksumError(msg)
