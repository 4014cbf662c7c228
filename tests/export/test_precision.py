"""`e2e-gnn export-onnx --precision int8|fp16`: the reduced model derived from the float32
export, checked against it on a labelled validation file, written only within tolerance,
and run by every backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner, Result

from e2e_gnn.cli import main
from e2e_gnn.export import default_example, export_onnx
from e2e_gnn.export.precision import (
    PRECISION_KEY,
    PrecisionError,
    ToleranceError,
    check_supported,
    read_validation,
    write_reduced,
)
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, graphs_from_features, random_features
from e2e_gnn.io import write_frames, write_graphs
from e2e_gnn.model_file import ModelFile
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.runtime.tagger import Tagger
from e2e_gnn.spec import ModelSpec
from e2e_gnn.train.checkpoint import load_checkpoint, save_checkpoint

GRAPHS = 40


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small EdgeConvTagger as checkpoint and float32 export, and a labelled graph file
    of GRAPHS kNN graphs (labels alternate 0, 1)."""
    root = tmp_path_factory.mktemp("precision")
    torch.manual_seed(0)
    model = EdgeConvTagger(len(TOY_GRAPH_SPEC.feature_names), hidden=16, num_layers=2).eval()
    save_checkpoint(root / "tagger.pt", model, "EdgeConvTagger", TOY_GRAPH_SPEC, {})
    spec = ModelSpec(
        name="tagger",
        model_class="EdgeConvTagger",
        hyperparameters=model.hyperparameters,
        graph=TOY_GRAPH_SPEC,
    )
    export_onnx(model, spec, root / "float32.onnx", default_example(spec))
    rng = np.random.default_rng(1)
    sizes = rng.integers(5, 30, size=GRAPHS).tolist()
    graphs = graphs_from_features(random_features(rng, sizes, spec.num_features), TOY_GRAPH_SPEC)
    labels = np.arange(GRAPHS) % 2
    validation = write_graphs(
        root / "validation.root",
        graphs,
        feature_names=TOY_GRAPH_SPEC.feature_names,
        label=labels,
    )
    return {
        "root": root,
        "checkpoint": root / "tagger.pt",
        "float32": root / "float32.onnx",
        "validation": validation,
    }


def scores(model: Path, validation: Path, backend: str = "onnxruntime") -> np.ndarray:
    with Tagger(model, backend=backend) as tagger:
        graphs = read_validation(tagger.spec, validation).inputs
        return np.asarray(tagger(graphs))


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_reduced_model_is_written_and_runs_on_every_backend(files, tmp_path, precision) -> None:
    out = tmp_path / f"{precision}.onnx"
    sample = read_validation(ModelFile.read(files["float32"]).spec, files["validation"])
    check = write_reduced(files["float32"], out, precision, sample, 1.0, 1.0)
    written = ModelFile.read(out)  # verifies the checksum of the reduced graph
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    if precision == "int8":
        assert "MatMulInteger" in ops and "Gemm" not in ops, ops
    else:
        weights = onnx.load(str(out)).graph.initializer
        assert any(w.data_type == onnx.TensorProto.FLOAT16 for w in weights)
        assert written.inputs[0].dtype == "float32" and written.outputs[0].dtype == "float32"
    record = json.loads(written.metadata[PRECISION_KEY])
    assert record["precision"] == precision and record["validation"]["graphs"] == GRAPHS
    reference = scores(files["float32"], files["validation"])
    reduced = scores(out, files["validation"])
    difference = float(np.abs(reduced - reference).max())
    assert record["validation"]["max_score_diff"] == pytest.approx(difference, abs=1e-7)
    assert check.max_score_diff == record["validation"]["max_score_diff"]
    # a reduced model is no exact copy: a difference of 0 would mean nothing was reduced
    assert 0 < difference < 0.05
    native = scores(out, files["validation"], backend="native")
    np.testing.assert_allclose(native, reduced, atol=1e-6)


def test_frame_tagger_int8_checked_on_a_frames_file(tmp_path) -> None:
    from e2e_gnn.nn.models import FrameCNNTagger

    torch.manual_seed(0)
    frame = {"shape": [2, 16, 16], "channels": ["ECAL", "HCAL"]}
    save_checkpoint(tmp_path / "cnn.pt", FrameCNNTagger(2, width=8), "FrameCNNTagger", None, {},
                    frame=frame)  # fmt: skip
    model, spec = load_checkpoint(tmp_path / "cnn.pt", "cnn")
    export_onnx(model, spec, tmp_path / "cnn.onnx", default_example(spec))
    rng = np.random.default_rng(0)
    energies = rng.exponential(1.0, (30, 2, 16, 16)) * (rng.random((30, 2, 16, 16)) < 0.05)
    validation = write_frames(
        tmp_path / "frames.root", energies.astype(np.float32), frame["channels"],
        label=np.arange(30) % 2,
    )  # fmt: skip
    sample = read_validation(ModelFile.read(tmp_path / "cnn.onnx").spec, validation)
    check = write_reduced(tmp_path / "cnn.onnx", tmp_path / "int8.onnx", "int8", sample, 1.0, 1.0)
    assert check.what == "frames" and check.items == 30
    assert "ConvInteger" in {node.op_type for node in onnx.load(tmp_path / "int8.onnx").graph.node}
    with Tagger(tmp_path / "int8.onnx", backend="native") as tagger:
        native = np.asarray(tagger(sample.inputs))
    with Tagger(tmp_path / "cnn.onnx") as tagger:
        reference = np.asarray(tagger(sample.inputs))
    assert float(np.abs(native - reference).max()) == pytest.approx(check.max_score_diff, abs=1e-6)


def test_refused_above_tolerance_and_nothing_written(files, tmp_path) -> None:
    out = tmp_path / "int8.onnx"
    sample = read_validation(ModelFile.read(files["float32"]).spec, files["validation"])
    with pytest.raises(ToleranceError, match="largest |score difference| .* > --max-score-diff 0"):
        write_reduced(files["float32"], out, "int8", sample, 0.0, 1.0)
    assert not out.exists()


def test_node_level_model_refused(node_export) -> None:
    _, spec, _ = node_export
    with pytest.raises(PrecisionError, match="not a tagger .*'node_out'"):
        check_supported(spec, "int8")


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["export-onnx", *(str(a) for a in args)])


def assert_one_line_error(result: Result, *expected: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    for text in expected:
        assert text in errors[0], (text, result.output)


def test_cli_writes_int8_and_inspect_shows_it(files, tmp_path) -> None:
    out = tmp_path / "int8.onnx"
    result = run(
        "--checkpoint", files["checkpoint"], "--out", out, "--precision", "int8",
        "--validation", files["validation"], "--max-score-diff", "0.1", "--max-auc-change", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "float32 vs int8 on validation.root (40 graphs)" in result.output
    assert f"wrote {out} (int8;" in result.output
    inspected = CliRunner().invoke(main, ["inspect", str(out)])
    assert inspected.exit_code == 0, inspected.output
    assert PRECISION_KEY in inspected.output and '"precision": "int8"' in inspected.output


def test_cli_refuses_above_tolerance(files, tmp_path) -> None:
    out = tmp_path / "int8.onnx"
    result = run(
        "--checkpoint", files["checkpoint"], "--out", out, "--precision", "int8",
        "--validation", files["validation"], "--max-score-diff", "0",
    )  # fmt: skip
    assert_one_line_error(result, "int8 model differs from float32", "not written")
    assert "largest |score difference|" in result.output and "FAIL (> 0)" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--precision", "int8"], ["--precision int8 needs --validation FILE"]),
        (["--precision", "bf16", "--validation", "VALIDATION"], ["bf16", "no bfloat16"]),
        (["--precision", "int4"], ["Invalid value for '--precision'", "int4"]),
        (["--validation", "VALIDATION"], ["are for --precision int8/fp16"]),
        (["--precision", "int8", "--validation", "FRAMES"], ["f.root", "not a graph file"]),
        (["--precision", "int8", "--validation", "UNLABELLED"], ["u.root", "no 'label' column"]),
        (["--precision", "int8", "--validation", "MISSING"], ["nope.root"]),
    ],
    ids=["no-validation", "bf16", "unknown", "validation-alone", "frames", "unlabelled", "missing"],
)
def test_cli_user_errors(files, tmp_path, extra, expected) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((5, len(TOY_GRAPH_SPEC.feature_names)), dtype=np.float32)
    graphs = graphs_from_features([x, x], TOY_GRAPH_SPEC)
    paths = {
        "VALIDATION": files["validation"],
        "FRAMES": write_frames(tmp_path / "f.root", np.zeros((2, 1, 4, 4), np.float32), ["E"]),
        "UNLABELLED": write_graphs(
            tmp_path / "u.root", graphs, feature_names=TOY_GRAPH_SPEC.feature_names
        ),
        "MISSING": tmp_path / "nope.root",
    }
    args = [paths.get(a, a) for a in extra]
    out = tmp_path / "m.onnx"
    result = run("--checkpoint", files["checkpoint"], "--out", out, *args)
    assert_one_line_error(result, *expected)
    assert not out.exists()
