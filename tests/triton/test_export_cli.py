"""`e2e-gnn export-onnx --triton-repo DIR`: the export lands in a valid Triton repository."""

from __future__ import annotations

import torch
from click.testing import CliRunner

from e2e_gnn.cli import main
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.train.checkpoint import save_checkpoint
from e2e_gnn.triton.config import validate_repository


def test_export_onnx_writes_a_valid_triton_repository(tmp_path) -> None:
    torch.manual_seed(0)
    model = EdgeConvTagger(len(TOY_GRAPH_SPEC.feature_names), hidden=8, num_layers=1)
    save_checkpoint(tmp_path / "t.pt", model, "EdgeConvTagger", TOY_GRAPH_SPEC, {})
    repository = tmp_path / "repo"
    args = [
        "export-onnx",
        "--checkpoint",
        str(tmp_path / "t.pt"),
        "--out",
        str(tmp_path / "jet_tagger.onnx"),
        "--triton-repo",
        str(repository),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    configs = validate_repository(repository)
    assert "jet_tagger" in configs
    onnx_entry = configs["jet_tagger"]
    assert onnx_entry.platform == "onnxruntime_onnx" or onnx_entry.backend == "onnxruntime"
    assert (repository / "jet_tagger" / "1" / "model.onnx").read_bytes() == (
        tmp_path / "jet_tagger.onnx"
    ).read_bytes()
    assert len(configs) >= 3  # plus the python-backend twin and the hits ensemble
