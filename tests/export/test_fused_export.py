"""`export-onnx --fused-ops`: the file, its parity check, every runtime that opens it, and
the Triton entries written for it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from e2e_gnn import Tagger, custom_ops
from e2e_gnn.cli import main
from e2e_gnn.export import export_onnx
from e2e_gnn.export.node_example import NodeExampleModel, node_example_spec
from e2e_gnn.export.parity import default_example
from e2e_gnn.export.recipe import Recipe
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.model_file import ModelFile
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.train.checkpoint import save_checkpoint
from e2e_gnn.triton.config import read_config
from e2e_gnn.triton.repository import write_repository


def tagger_checkpoint(path) -> None:
    torch.manual_seed(0)
    model = EdgeConvTagger(len(TOY_GRAPH_SPEC.feature_names), hidden=16, num_layers=2)
    save_checkpoint(path, model, "EdgeConvTagger", TOY_GRAPH_SPEC, {"data": "test"})


@pytest.fixture(scope="module")
def fused_tagger(tmp_path_factory):
    """(model, checkpoint, plain export, fused export) of one tagger, via the CLI."""
    folder = tmp_path_factory.mktemp("fused")
    tagger_checkpoint(folder / "tagger.pt")
    paths = {}
    for name, flags in (("plain", []), ("fused", ["--fused-ops"])):
        paths[name] = folder / f"{name}.onnx"
        args = ["export-onnx", "--checkpoint", str(folder / "tagger.pt"), "--out", str(paths[name])]
        result = CliRunner().invoke(main, [*args, *flags])
        assert result.exit_code == 0, result.output
    return folder / "tagger.pt", paths["plain"], paths["fused"]


def test_fused_export_runs_on_every_backend_with_the_plain_exports_numbers(
    fused_tagger, make_graphs
) -> None:
    _, plain, fused = fused_tagger
    assert ModelFile.read(fused).custom_domains == (custom_ops.DOMAIN,)
    assert ModelFile.read(plain).custom_domains == ()
    batch = make_graphs([5, 30, 1, 64, 12], len(TOY_GRAPH_SPEC.feature_names), seed=3)
    reference = Tagger(plain, backend="onnxruntime").outputs(batch)["scores"]
    for backend in ("onnxruntime", "native"):
        scores = Tagger(fused, backend=backend).outputs(batch)["scores"]
        np.testing.assert_allclose(scores, reference, atol=1e-6, rtol=0, err_msg=backend)


def test_inspect_names_the_custom_operators(fused_tagger) -> None:
    _, plain, fused = fused_tagger
    shown = CliRunner().invoke(main, ["inspect", str(fused)])
    assert shown.exit_code == 0, shown.output
    assert f"custom operators: {custom_ops.DOMAIN}" in shown.output
    assert "custom operators" not in CliRunner().invoke(main, ["inspect", str(plain)]).output


def test_triton_onnx_entry_names_the_operator_library(fused_tagger, tmp_path) -> None:
    _, plain, fused = fused_tagger
    written = write_repository(fused, tmp_path / "repo", name="fused", variants=("onnx",))
    config = read_config(written.root / "fused" / "config.pbtxt")
    assert list(config.model_operations.op_library_filename) == [
        str(custom_ops.library_path().resolve())
    ]
    write_repository(plain, tmp_path / "repo", name="plain", variants=("onnx",))
    plain_text = (tmp_path / "repo" / "plain" / "config.pbtxt").read_text()
    assert "model_operations" not in plain_text


def test_node_model_with_fused_operators_keeps_its_node_outputs(tmp_path, make_graphs) -> None:
    torch.manual_seed(0)
    model = NodeExampleModel().eval()
    spec = node_example_spec(model, "fused_node_model")
    path = tmp_path / "node.onnx"
    report = export_onnx(model, spec, path, default_example(spec), fused_ops=True)
    assert report.passed and report.max_abs_diff < 1e-5
    assert ModelFile.read(path).custom_domains == (custom_ops.DOMAIN,)


def test_recipe_takes_fused_ops_and_refuses_a_non_boolean(tmp_path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "r"\ncheckpoint = "t.pt"\noutput = "o.onnx"\nfused_ops = true\n')
    assert Recipe.load(recipe).fused_ops is True
    recipe.write_text('name = "r"\ncheckpoint = "t.pt"\noutput = "o.onnx"\nfused_ops = "yes"\n')
    with pytest.raises(ValueError, match="fused_ops must be true or false, got 'yes'"):
        Recipe.load(recipe)
