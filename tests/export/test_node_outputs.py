"""Export and parity of models with per-node outputs, several outputs and graph features."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
import torch

from e2e_gnn.export import ParityError, export_onnx, export_spec
from e2e_gnn.export.node_example import NODE_EXAMPLE_GRAPH_SPEC, NodeExampleModel
from e2e_gnn.export.parity import check_parity, default_example, parity_cases
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.spec import GRAPH_FEATURE_INPUT, GRAPH_INPUTS, ModelSpec, TensorSpec, node_output

NODE_CASES = {"single node", "no edges", "smaller than k", "larger than example", "many graphs"}
# the cases of more than one graph, which run again shuffled
SHUFFLED = {"export example", "no edges", "smaller than k", "many graphs"}


def node_spec(graph=NODE_EXAMPLE_GRAPH_SPEC) -> ModelSpec:
    return ModelSpec(name="n", model_class="NodeExampleModel", hyperparameters={}, graph=graph)


def _dims(value_info: onnx.ValueInfoProto) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_node_model_exports_its_declared_outputs_with_a_dynamic_node_axis(node_export) -> None:
    _, spec, path = node_export
    assert spec.inputs == (*GRAPH_INPUTS, GRAPH_FEATURE_INPUT)
    assert [t.name for t in spec.outputs] == ["node_out", "graph_out"]
    assert spec.outputs[0].per_node and not spec.outputs[1].per_node
    model = onnx.load(str(path))
    inputs = {i.name: _dims(i) for i in model.graph.input}
    outputs = {o.name: _dims(o) for o in model.graph.output}
    assert list(outputs) == ["node_out", "graph_out"]
    assert outputs["node_out"][1] == 2 and outputs["node_out"][0] == inputs["x"][0]
    assert isinstance(outputs["node_out"][0], str)  # dynamic, the node axis of x
    assert inputs["u"][1] == 3 and isinstance(inputs["u"][0], str)


def test_export_reports_every_output_on_every_case_including_shuffled(tmp_path) -> None:
    torch.manual_seed(3)
    model = NodeExampleModel().eval()
    spec = node_spec()
    report = export_onnx(model, spec, tmp_path / "m.onnx", default_example(spec))
    assert report.passed and report.max_abs_diff <= 1e-5
    rows = {(row.case, row.output) for row in report.rows}
    for case in NODE_CASES | {f"{c}, shuffled" for c in SHUFFLED}:
        assert {(case, "node_out"), (case, "graph_out")} <= rows, case
        assert {(f"{case} [4 threads]", "node_out")} <= rows
    assert any(row.inputs.endswith(" 0 edges") and row.output == "node_out" for row in report.rows)
    assert "node_out" in report.table() and "graph_out" in report.table()


class NodeOrderDependent(NodeExampleModel):
    """Deliberately broken: node outputs depend on where the node sits in the batch, which
    only a shuffled batch compared node by node can see."""

    def forward(self, x, edge_index, batch, u):
        node, graph = super().forward(x, edge_index, batch, u)
        position = torch.arange(node.size(0), dtype=node.dtype)[:, None]
        return node + position, graph


def test_parity_catches_node_outputs_that_depend_on_batch_order(tmp_path) -> None:
    model = NodeOrderDependent().eval()
    spec = node_spec()
    with pytest.raises(ParityError, match="disagrees with torch") as info:
        export_onnx(model, spec, tmp_path / "m.onnx", default_example(spec))
    failed = {(row.case, row.output) for row in info.value.report.rows if not row.passed}
    assert ("many graphs, shuffled", "node_out") in failed
    assert all(output == "node_out" and "shuffled" in case for case, output in failed)
    assert list(tmp_path.iterdir()) == []


def _fake_outputs(batch: GraphBatch) -> dict[str, np.ndarray]:
    """Per-node and per-graph values a model could give, computed without any model."""
    node = batch.x[:, :2] * 2 + batch.u[batch.batch, :1]
    graph = np.bincount(batch.batch, weights=batch.x[:, 0], minlength=len(batch))
    return {"node_out": node, "graph_out": graph[:, None].astype(np.float32)}


OUTPUTS = (node_output("node_out", 2), TensorSpec("graph_out", "float32", ("graphs", 1)))


def test_check_parity_puts_shuffled_nodes_back_in_order() -> None:
    spec = node_spec()
    cases = parity_cases(spec, default_example(spec))
    report = check_parity(_fake_outputs, _fake_outputs, cases, 1e-6, OUTPUTS)
    assert report.passed and report.max_abs_diff == 0.0
    assert {"many graphs, shuffled", "no edges, shuffled"} <= {row.case for row in report.rows}

    def swapped_nodes(batch: GraphBatch) -> dict[str, np.ndarray]:
        out = _fake_outputs(batch)
        out["node_out"] = out["node_out"][::-1].copy()  # right values, wrong nodes
        return out

    def missing(batch: GraphBatch) -> dict[str, np.ndarray]:
        return {"node_out": _fake_outputs(batch)["node_out"]}

    report = check_parity(_fake_outputs, swapped_nodes, cases, 1e-6, OUTPUTS)
    failed = {(row.case, row.output) for row in report.rows if not row.passed}
    assert ("many graphs", "node_out") in failed and ("single node", "node_out") not in failed
    assert not any(output == "graph_out" for _, output in failed)
    report = check_parity(_fake_outputs, missing, cases, 1e-6, OUTPUTS)
    assert all(row.passed == (row.output == "node_out") for row in report.rows)
    assert "graph_out" in report.table() and "FAIL" in report.table()


def test_parity_cases_carry_graph_features_only_for_models_that_take_them() -> None:
    for graph, width in ((NODE_EXAMPLE_GRAPH_SPEC, 3), (TOY_GRAPH_SPEC, 0)):
        spec = node_spec(graph)
        for batch in parity_cases(spec, default_example(spec)).values():
            assert isinstance(batch, GraphBatch)
            batch.validate(spec.num_features, width)


class ReturnsOne(NodeExampleModel):
    def forward(self, x, edge_index, batch, u):
        return super().forward(x, edge_index, batch, u)[0]


class GraphRowsDeclaredPerNode(NodeExampleModel):
    spec_outputs = (node_output("node_out", 1), node_output("also_nodes", 1))

    def forward(self, x, edge_index, batch, u):
        node, graph = super().forward(x, edge_index, batch, u)
        return node[:, :1], graph


@pytest.mark.parametrize(
    ("model", "error"),
    [
        (ReturnsOne, r"returns 1 tensor\(s\) but declares 2 outputs \['node_out', 'graph_out'\]"),
        (GraphRowsDeclaredPerNode, r"output 'also_nodes' is declared \['nodes', 1\] but"),
    ],
)
def test_outputs_that_do_not_match_the_declaration_are_refused(model, error, tmp_path) -> None:
    spec = node_spec()
    with pytest.raises(ValueError, match=error):
        export_onnx(model().eval(), spec, tmp_path / "m.onnx", default_example(spec))
    assert list(tmp_path.iterdir()) == []


def test_example_without_the_graph_features_the_model_takes_is_refused(tmp_path) -> None:
    spec = node_spec()
    example = dataclasses.replace(default_example(spec), u=None)
    with pytest.raises(ValueError, match=r"input 'u' \[3, 3\] is missing"):
        export_onnx(NodeExampleModel().eval(), spec, tmp_path / "m.onnx", example)


def test_export_spec_keeps_old_models_as_they_were() -> None:
    model = EdgeConvTagger(4, hidden=8, num_layers=1)
    spec = ModelSpec(
        name="t", model_class="EdgeConvTagger", hyperparameters={}, graph=TOY_GRAPH_SPEC
    )
    assert export_spec(model, spec) == spec
    node = export_spec(NodeExampleModel(), node_spec())
    assert node.outputs == NodeExampleModel.spec_outputs
    assert [t.name for t in node.inputs] == ["x", "edge_index", "batch", "u"]


def test_jetpointnet_exports_through_e2e_gnn_without_edges(tmp_path) -> None:
    """A point cloud model (builder "none": deployment passes no edges) exports with parity
    on every case; its export example alone carries self loops, so the edge axis stays
    dynamic instead of being frozen at 0."""
    from e2e_gnn.model_file import ModelFile
    from e2e_gnn.nn.jetpointnet import JetPointNet

    torch.manual_seed(0)
    model = JetPointNet(4, energy_index=3, width=4, global_width=8).eval()
    graph = dataclasses.replace(
        TOY_GRAPH_SPEC, builder="none", k=None, coordinates=(), coordinate_scale=()
    )
    spec = ModelSpec(name="jpn", model_class="JetPointNet", hyperparameters={}, graph=graph)
    example = default_example(spec)
    assert example.num_edges == example.num_nodes
    report = export_onnx(model, spec, tmp_path / "jpn.onnx", example)
    assert report.passed and {row.output for row in report.rows} == {"energy"}
    assert all(" 0 edges" in row.inputs for row in report.rows if "example" not in row.case)
    assert ModelFile.read(tmp_path / "jpn.onnx").spec.outputs == JetPointNet.spec_outputs
    dims = {i.name: _dims(i) for i in onnx.load(str(tmp_path / "jpn.onnx")).graph.input}
    assert isinstance(dims["edge_index"][1], str)
