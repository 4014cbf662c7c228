"""The model checksum is verified at load: e2e_gnn.checksum (pure Python), ModelFile.read
and the C++ Session (through its bindings) refuse a model whose weights changed after
export or that has no checksum, accept the untouched export, and skip on request."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e_gnn.checksum import ChecksumError, model_checksum, stored_checksum, verify_checksum
from e2e_gnn.model_file import ModelFile
from e2e_gnn.spec import CHECKSUM_KEY, SpecError

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = [
    ROOT / "tests" / "triton" / "data" / "tiny_gnn.onnx",
    ROOT / "triton_models" / "example_gnn" / "1" / "model.onnx",
]


def onnx_graph_hash(path: Path) -> str:
    """What export has always written: sha256 of the graph as the onnx library serializes it."""
    return hashlib.sha256(onnx.load(path).graph.SerializeToString(deterministic=True)).hexdigest()


def altered(source: Path, target: Path) -> Path:
    """``source`` with its largest weight doubled, saved with onnx, metadata kept."""
    model = onnx.load(source)
    weight = max(model.graph.initializer, key=lambda t: onnx.numpy_helper.to_array(t).size)
    weight.CopyFrom(
        onnx.numpy_helper.from_array(2 * onnx.numpy_helper.to_array(weight), weight.name)
    )
    onnx.save(model, target)
    return target


def without_checksum(source: Path, target: Path) -> Path:
    model = onnx.load(source)
    kept = [p for p in model.metadata_props if p.key != CHECKSUM_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.save(model, target)
    return target


@pytest.fixture(scope="module")
def native():
    from e2e_gnn._native_loader import load_native

    return load_native()


def graph_inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    edge_index = np.array([[0, 1, 2, 3, 4, 5], [1, 0, 0, 4, 5, 3]], np.int64)
    return {"x": x, "edge_index": edge_index, "batch": np.array([0, 0, 0, 1, 1, 1], np.int64)}


def test_checksum_is_the_graph_hash_export_writes(tagger_export) -> None:
    for path in [tagger_export[2], *CHECKED_IN]:
        expected = onnx_graph_hash(path)
        assert model_checksum(path) == expected
        assert model_checksum(path.read_bytes()) == expected
        assert stored_checksum(path) == expected
        verify_checksum(path)
        verify_checksum(path, {CHECKSUM_KEY: expected})


def test_changed_weights_refused_by_python_and_cpp(tagger_export, native, tmp_path) -> None:
    path = tagger_export[2]
    changed = altered(path, tmp_path / "changed.onnx")
    assert stored_checksum(changed) == stored_checksum(path)  # the stale value travels along
    computed = onnx_graph_hash(changed)
    with pytest.raises(ChecksumError) as error:
        verify_checksum(changed)
    message = str(error.value)
    assert "\n" not in message
    assert f"model {str(changed)!r} was changed after export" in message
    assert f"hash to {computed}, its 'e2e_gnn.checksum' says {stored_checksum(path)}" in message
    assert "re-export it (or pass verify_checksum=False" in message
    with pytest.raises(ChecksumError, match="was changed after export"):
        ModelFile.read(changed)
    assert ModelFile.read(changed, verify_checksum=False).checksum == stored_checksum(path)

    with pytest.raises(ValueError, match=f"model '{changed}' was changed after export: .*"):
        native.Session(str(changed))
    options = native.SessionOptions()
    assert options.verify_checksum
    options.verify_checksum = False
    scores = native.Session(str(changed), options).run(graph_inputs())["scores"]
    original = native.Session(str(path)).run(graph_inputs())["scores"]
    assert np.abs(scores - original).max() > 1e-4  # the skipped check let a changed model run


def test_missing_checksum_refused_unless_skipped(tagger_export, native, tmp_path) -> None:
    bare = without_checksum(tagger_export[2], tmp_path / "bare.onnx")
    assert stored_checksum(bare) is None
    with pytest.raises(ChecksumError, match=f"model {str(bare)!r} has no 'e2e_gnn.checksum'"):
        verify_checksum(bare)
    with pytest.raises(ChecksumError, match="has no 'e2e_gnn.checksum'"):
        ModelFile.read(bare)
    with pytest.raises(ValueError, match="has no 'e2e_gnn.checksum' metadata"):
        native.Session(str(bare))
    options = native.SessionOptions()
    options.verify_checksum = False
    assert native.Session(str(bare), options).metadata.get(CHECKSUM_KEY) is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "it has 0 graph fields (ModelProto field 7), expected one"),
        (b"\x3a\x00\x3a\x00", "it has 2 graph fields (ModelProto field 7), expected one"),
        (b"\x38\x01", "its graph field (ModelProto field 7) is not length-delimited"),
        (b"\x08\x07 not a model", "field 13 has wire type 7 at byte 4"),
        (b"\x3a\x05abc", "field 7 at byte 0 runs past its message's end 5"),
        (b"\x08\xff\xff", "truncated varint at byte 1"),
        (b"\x08" + b"\xff" * 11 + b"\x01", "varint longer than 10 bytes at byte 1"),
        (b"\x00\x01", "field number 0 at byte 0"),
        (b"\x3a\x00\x72\x03\x0a\x05a", "field 1 at byte 4 runs past its message's end 7"),
    ],
    ids=["empty", "two-graphs", "graph-varint", "group", "short", "varint", "long-varint",
         "field-0", "metadata"],
)  # fmt: skip
def test_not_an_onnx_model(data: bytes, why: str, tmp_path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises(SpecError, match=f"^cannot load {str(path)!r} as an ONNX model: ") as error:
        verify_checksum(path)
    assert not isinstance(error.value, ChecksumError)
    assert str(error.value).endswith(why)


def test_same_errors_in_cpp(native, tmp_path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x3a\x05abc")
    with pytest.raises(SpecError) as python:
        verify_checksum(path)
    with pytest.raises(ValueError) as cpp:
        native.Session(str(path))
    assert str(cpp.value) == str(python.value)


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(0, 10_000),
    flips=st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=3),
    noise=st.binary(max_size=64),
)
def test_malformed_files_give_a_spec_error(cut: int, flips, noise: bytes) -> None:
    data = bytearray(CHECKED_IN[0].read_bytes())
    for at, value in flips:
        data[at] = value
    for candidate in (bytes(data[: len(data) - cut]), noise, bytes(data[:64]) + noise):
        try:
            model_checksum(candidate)
        except SpecError as error:
            assert str(error).startswith("cannot load '<bytes>' as an ONNX model: ")


def test_triton_writer_and_client_refuse_a_changed_model(tagger_export, tmp_path) -> None:
    """triton-repo would copy the stale checksum into the config, and the client compare
    the server's copy with it: both verify the local file first."""
    pytest.importorskip("tritonclient")
    from e2e_gnn.runtime.triton_backend import TritonBackend
    from e2e_gnn.triton.repository import write_repository

    changed = altered(tagger_export[2], tmp_path / "changed.onnx")
    with pytest.raises(ChecksumError, match="was changed after export"):
        write_repository(changed, tmp_path / "repository")
    assert not (tmp_path / "repository").exists()
    with pytest.raises(ChecksumError, match="was changed after export"):
        TritonBackend(changed, url="127.0.0.1:1")


@pytest.mark.parametrize("backend", ["onnxruntime", "native"])
def test_tagger_refuses_a_changed_model_unless_told_to_skip(
    tagger_export, backend: str, tmp_path
) -> None:
    from e2e_gnn import GraphBatch, Tagger

    changed = altered(tagger_export[2], tmp_path / "changed.onnx")
    with pytest.raises(ValueError, match="was changed after export"):
        Tagger(changed, backend=backend)
    batch = GraphBatch(**graph_inputs(), num_graphs=2)
    with Tagger(changed, backend=backend, verify_checksum=False) as tagger:
        skipped = tagger(batch)
    with Tagger(tagger_export[2], backend=backend) as tagger:
        original = tagger(batch)
    assert np.abs(skipped - original).max() > 1e-4
