"""`e2e-gnn export-onnx` from a recipe, and its refusal of a model that fails parity."""

from __future__ import annotations

import re

import onnx
import torch
from click.testing import CliRunner

from e2e_gnn.cli import main
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.spec import SPEC_KEY, ModelSpec
from e2e_gnn.train.checkpoint import save_checkpoint


def write_checkpoint(path) -> None:
    torch.manual_seed(0)
    model = EdgeConvTagger(4, hidden=8, num_layers=1)
    save_checkpoint(path, model, "EdgeConvTagger", TOY_GRAPH_SPEC, {"data": "test"})


def test_export_from_recipe_then_inspect(tmp_path) -> None:
    write_checkpoint(tmp_path / "tagger.pt")
    (tmp_path / "recipes").mkdir()
    recipe = tmp_path / "recipes" / "toy.toml"
    recipe.write_text(
        'name = "toy"\ncheckpoint = "../tagger.pt"\noutput = "../out/toy.onnx"\natol = 1e-5\n'
        "example_sizes = [5, 60]\n"
    )
    result = CliRunner().invoke(main, ["export-onnx", "--recipe", str(recipe)])
    assert result.exit_code == 0, result.output
    assert "larger than example" in result.output
    assert re.search(r"^export example +2 graphs, 65 nodes", result.output, re.MULTILINE)
    assert "larger than example [default options]" in result.output
    model = onnx.load(str(tmp_path / "out" / "toy.onnx"))
    spec = ModelSpec.from_json({p.key: p.value for p in model.metadata_props}[SPEC_KEY])
    assert spec.name == "toy" and spec.provenance["data"] == "test"
    inspected = CliRunner().invoke(main, ["inspect", str(tmp_path / "out" / "toy.onnx")])
    assert inspected.exit_code == 0, inspected.output
    assert "edge_index" in inspected.output and "EdgeConvTagger" in inspected.output


def test_export_refuses_on_parity_failure_with_nonzero_exit(tmp_path) -> None:
    write_checkpoint(tmp_path / "tagger.pt")
    args = [
        "export-onnx",
        "--checkpoint",
        str(tmp_path / "tagger.pt"),
        "--out",
        str(tmp_path / "m.onnx"),
        "--atol",
        "0",
        "--rtol",
        "0",
    ]
    # exact equality cannot be met by float32 arithmetic in two runtimes on the large cases
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert "disagrees with torch" in result.output and "FAIL" in result.output
    assert not (tmp_path / "m.onnx").exists()


def test_recipe_errors(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ncheckpoint = "a.pt"\noutptu = "b.onnx"\n')
    result = CliRunner().invoke(main, ["export-onnx", "--recipe", str(bad)])
    assert result.exit_code != 0
    assert "unknown keys ['outptu']" in result.output
