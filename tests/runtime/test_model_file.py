"""ModelFile: the one reader of an exported model's names, shapes, metadata and spec."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from e2e_gnn.checksum import ChecksumError
from e2e_gnn.model_file import ModelFile
from e2e_gnn.spec import SpecError, TensorSpec

MODEL = Path(__file__).parents[1] / "triton" / "data" / "tiny_gnn.onnx"


def test_reads_names_shapes_spec_and_identity() -> None:
    model = ModelFile.read(MODEL)
    assert model.inputs == (
        TensorSpec("x", "float32", ("nodes", 4)),
        TensorSpec("edge_index", "int64", (2, "edges")),
        TensorSpec("batch", "int64", ("nodes",)),
    )
    assert model.input_names == ("x", "edge_index", "batch")
    assert model.output_names == ("scores",)
    assert model.outputs[0].dtype == "float32" and model.outputs[0].shape[1] == 1
    assert model.opset == 18
    assert model.spec.name == "tiny_gnn" and model.spec.graph is not None
    stored = {p.key: p.value for p in onnx.load(str(MODEL)).metadata_props}
    assert model.metadata == stored
    assert model.checksum == stored["e2e_gnn.checksum"] and len(model.checksum) == 64
    assert model.version == stored["e2e_gnn.version"]
    assert model.external_data == ()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model file '.*nope.onnx' does not exist"):
        ModelFile.read(tmp_path / "nope.onnx")
    with pytest.raises(FileNotFoundError, match="is not a file"):
        ModelFile.read(tmp_path)


@pytest.mark.parametrize("content", [b"event,score\n1,0.5\n", b"", bytes(range(256)) * 4])
def test_not_onnx(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(SpecError, match=r"cannot load '.*model.onnx' as an ONNX model"):
        ModelFile.read(path)


def test_onnx_without_e2e_gnn_metadata(tmp_path: Path) -> None:
    model = onnx.load(str(MODEL))
    del model.metadata_props[:]
    onnx.save_model(model, str(tmp_path / "plain.onnx"))
    with pytest.raises(SpecError, match=r"plain.onnx' has no 'e2e_gnn.spec' metadata"):
        ModelFile.read(tmp_path / "plain.onnx", verify_checksum=False)


def test_changed_weights(tmp_path: Path, changed_after_export) -> None:
    changed_after_export(MODEL, tmp_path / "changed.onnx")
    with pytest.raises(ChecksumError, match="changed after export"):
        ModelFile.read(tmp_path / "changed.onnx")
    assert ModelFile.read(tmp_path / "changed.onnx", verify_checksum=False).spec.name == "tiny_gnn"


def test_external_data(tmp_path: Path) -> None:
    onnx.save_model(
        onnx.load(str(MODEL)),
        str(tmp_path / "split.onnx"),
        save_as_external_data=True,
        location="split.onnx.data",
        size_threshold=0,
    )
    with pytest.raises(SpecError, match=r"keeps \d+ tensor\(s\) .* external data file"):
        ModelFile.read(tmp_path / "split.onnx")
    unverified = ModelFile.read(tmp_path / "split.onnx", verify_checksum=False)
    assert unverified.external_data and unverified.input_names == ("x", "edge_index", "batch")
