from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from e2e_gnn.export import ParityError, export_onnx, graph_checksum, racy_reductions
from e2e_gnn.export.parity import default_example
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.nn import scatternd_aggregation
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


def _scores(session: ort.InferenceSession, batch) -> np.ndarray:
    return session.run(["scores"], batch.inputs())[0]


def test_exported_tagger_is_exact_in_plain_onnxruntime_on_any_threads(
    tagger_export, make_graphs
) -> None:
    """A user's plain InferenceSession(path) (default options: all cores), 1 or 2 threads and
    no graph optimisation give torch's scores, the same in every run (ScatterND reductions
    lost updates here)."""
    model, spec, path = tagger_export
    assert spec.thread_safe
    assert racy_reductions(onnx.load(str(path))) == []
    batch = make_graphs([int(n) for n in np.arange(20, 420, 20)], spec.num_features, seed=3)
    with torch.no_grad():
        wanted = torch.sigmoid(model(*(torch.from_numpy(a) for a in batch.inputs().values())))
    plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    sessions = [plain]
    for threads, level in ((1, None), (2, None), (2, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        if level is not None:
            options.graph_optimization_level = level
        sessions.append(
            ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        )
    runs = [_scores(session, batch) for session in sessions for _ in range(5)]
    for got in runs:
        np.testing.assert_allclose(got, runs[0], atol=1e-6, rtol=0)
        np.testing.assert_allclose(got, wanted.numpy(), atol=1e-5, rtol=0)


def test_scatternd_opt_in_is_recorded_as_not_thread_safe(tmp_path) -> None:
    torch.manual_seed(1)
    model = EdgeConvTagger(4, hidden=8, num_layers=1).eval()
    spec = spec_for(model)
    with scatternd_aggregation():
        report = export_onnx(model, spec, tmp_path / "m.onnx", default_example(spec))
    onnx_model = onnx.load(str(tmp_path / "m.onnx"))
    metadata = {p.key: p.value for p in onnx_model.metadata_props}
    assert not ModelSpec.from_json(metadata[SPEC_KEY]).thread_safe
    assert racy_reductions(onnx_model)
    assert report.passed and not any("threads" in row.case for row in report.rows)


def test_export_reports_parity_on_the_hard_cases(tmp_path) -> None:
    torch.manual_seed(1)
    model = EdgeConvTagger(4, hidden=8, num_layers=1).eval()
    spec = spec_for(model)
    report = export_onnx(model, spec, tmp_path / "m.onnx", default_example(spec))
    cases = {row.case for row in report.rows}
    assert {"single node", "no edges", "smaller than k", "larger than example"} <= cases
    assert any("shuffled" in case for case in cases)
    assert any(" 0 edges" in row.inputs for row in report.rows)
    # thread-safe: checked again on 4 threads and with ONNX Runtime's default options
    assert any(case.endswith("[4 threads]") for case in cases)
    assert any(case.endswith("[default options]") for case in cases)
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


def _scatter_node(op: str, reduction: str | None) -> onnx.NodeProto:
    kwargs = {} if reduction is None else {"reduction": reduction}
    return onnx.helper.make_node(op, ["data", "indices", "updates"], ["out"], **kwargs)


def test_racy_reductions_searches_subgraphs_and_functions() -> None:
    helper = onnx.helper
    branch = helper.make_graph([_scatter_node("ScatterND", "add")], "then", [], [])
    plain = helper.make_graph([_scatter_node("ScatterND", "none")], "else", [], [])
    conditional = helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=plain)
    graph = helper.make_graph([conditional, _scatter_node("ScatterElements", None)], "g", [], [])
    function = helper.make_function(
        "custom", "f", ["data"], ["out"], [_scatter_node("ScatterElements", "max")], []
    )
    model = helper.make_model(graph, functions=[function])
    assert [entry.split(": ")[1] for entry in racy_reductions(model)] == [
        "ScatterND(add)",
        "ScatterElements(max)",
    ]
