from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from e2e_gnn.export import ParityError, export_onnx, graph_checksum
from e2e_gnn.export.parity import default_example
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.spec import CHECKSUM_KEY, SPEC_KEY, ModelSpec


def spec_for(model: torch.nn.Module) -> ModelSpec:
    return ModelSpec(
        name="t", model_class=type(model).__name__, hyperparameters={}, graph=TOY_GRAPH_SPEC
    )


def test_exported_model_is_self_contained_opset18_with_metadata(tagger_export) -> None:
    _, spec, path = tagger_export
    assert not path.with_name(path.name + ".data").exists()
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert {o.domain: o.version for o in model.opset_import}[""] == 18
    metadata = {p.key: p.value for p in model.metadata_props}
    assert ModelSpec.from_json(metadata[SPEC_KEY]) == spec
    assert metadata[CHECKSUM_KEY] == graph_checksum(model)
    dims = {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
        for i in model.graph.input
    }
    assert isinstance(dims["x"][0], str) and isinstance(dims["edge_index"][1], str)
    assert dims["x"][0] == dims["batch"][0]
    assert model.graph.output[0].name == "scores"


def test_export_reports_parity_on_the_hard_cases(tmp_path) -> None:
    torch.manual_seed(1)
    model = EdgeConvTagger(4, hidden=8, num_layers=1).eval()
    spec = spec_for(model)
    report = export_onnx(model, spec, tmp_path / "m.onnx", default_example(spec))
    cases = {row.case for row in report.rows}
    assert {"single node", "no edges", "smaller than k", "larger than example"} <= cases
    assert any("shuffled" in case for case in cases)
    assert any(" 0 edges" in row.inputs for row in report.rows)
    assert report.passed and report.max_abs_diff <= 1e-5


class OrderDependent(torch.nn.Module):
    """Deliberately broken: scores depend on where a graph sits in the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = EdgeConvTagger(4, hidden=8, num_layers=1)

    def forward(self, x, edge_index, batch):
        logits = self.inner(x, edge_index, batch)
        position = torch.arange(logits.size(0), dtype=logits.dtype)[:, None]
        return logits + position


class TrainingModeOnly(torch.nn.Module):
    """Deliberately broken: differs between torch and the export (random noise in eval)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = EdgeConvTagger(4, hidden=8, num_layers=1)

    def forward(self, x, edge_index, batch):
        return self.inner(x, edge_index, batch) + torch.rand(1)


@pytest.mark.parametrize("broken", [OrderDependent, TrainingModeOnly])
def test_export_refuses_a_broken_model_and_writes_nothing(broken, tmp_path) -> None:
    model = broken().eval()
    spec = spec_for(model)
    with pytest.raises(ParityError, match="disagrees with torch") as info:
        export_onnx(model, spec, tmp_path / "m.onnx", default_example(spec))
    assert not info.value.report.passed
    assert "FAIL" in info.value.report.table()
    assert list(tmp_path.iterdir()) == []


def test_export_example_must_not_freeze_sizes(tmp_path) -> None:
    from e2e_gnn.graphs.batch import GraphBatch

    tiny = GraphBatch.from_graphs([(np.ones((1, 4), np.float32), np.zeros((2, 0)))])
    model = EdgeConvTagger(4, hidden=8, num_layers=1)
    with pytest.raises(ValueError, match=">= 2 nodes, edges and graphs"):
        export_onnx(model, spec_for(model), tmp_path / "m.onnx", tiny)
