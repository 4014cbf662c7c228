"""Triton configs of a node-level model with graph features (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from _helpers import onnx_model_module
from click.testing import CliRunner
from tritonclient.grpc import model_config_pb2 as mc

from e2e_gnn.triton import ConfigError, read_config, validate_repository, write_repository
from e2e_gnn.triton.cli import triton_repo_command

FP32, INT64 = mc.TYPE_FP32, mc.TYPE_INT64
GNN_INPUTS = {
    "x": (FP32, [-1, 4]),
    "edge_index": (INT64, [2, -1]),
    "batch": (INT64, [-1]),
    "u": (FP32, [-1, 3]),
}
# in the model's order: the primary (per-node) output first
OUTPUTS = [("node_out", FP32, [-1, 2]), ("graph_out", FP32, [-1, 1])]


def _tensors(tensors) -> dict[str, tuple[int, list[int]]]:
    return {t.name: (t.data_type, list(t.dims)) for t in tensors}


def _outputs(config: mc.ModelConfig) -> list[tuple[str, int, list[int]]]:
    return [(t.name, t.data_type, list(t.dims)) for t in config.output]


def test_every_entry_serves_every_output(node_model_path: Path, tmp_path: Path) -> None:
    """Node outputs [-1, C] next to graph outputs [-1, C]; u [-1, F_u] as the 4th input; the
    graph builder makes x, edge_index, batch; the ensemble takes hits and u and hands u to
    the GNN unchanged."""
    written = write_repository(node_model_path, tmp_path, name="nodes")
    assert written.models == {
        "onnx": "nodes",
        "python": "nodes_python",
        "graph_builder": "nodes_graph_builder",
        "ensemble": "nodes_hits",
    }
    configs = validate_repository(tmp_path)
    assert all(c.max_batch_size == 0 for c in configs.values())
    for name in ("nodes", "nodes_python"):
        assert _tensors(configs[name].input) == GNN_INPUTS
        assert _outputs(configs[name]) == OUTPUTS
    for name in ("nodes", "nodes_python", "nodes_hits"):  # for clients without the export
        rows = configs[name].parameters["e2e_gnn.output_rows"].string_value
        assert json.loads(rows) == {"node_out": "nodes", "graph_out": "graphs"}
    assert configs["nodes"].platform == "onnxruntime_onnx"
    assert configs["nodes_python"].backend == "python"

    builder = configs["nodes_graph_builder"]
    assert _tensors(builder.input) == {"hits": (FP32, [-1, 4]), "hits_batch": (INT64, [-1])}
    assert _tensors(builder.output) == {k: v for k, v in GNN_INPUTS.items() if k != "u"}
    graph_spec = json.loads(builder.parameters["graph_spec"].string_value)
    assert graph_spec["graph_feature_names"] == ["jet_pt", "jet_eta", "rho"]

    ensemble = configs["nodes_hits"]
    assert _tensors(ensemble.input) == {
        "hits": (FP32, [-1, 4]),
        "hits_batch": (INT64, [-1]),
        "u": (FP32, [-1, 3]),
    }
    assert _outputs(ensemble) == OUTPUTS
    first, second = ensemble.ensemble_scheduling.step
    assert first.model_name == "nodes_graph_builder"
    assert second.model_name == "nodes_python"
    assert dict(second.input_map) == {
        "x": "graph_x",
        "edge_index": "graph_edge_index",
        "batch": "graph_batch",
        "u": "u",
    }
    assert dict(second.output_map) == {"node_out": "node_out", "graph_out": "graph_out"}


def test_cli_writes_the_onnx_ensemble(node_model_path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        triton_repo_command,
        [str(node_model_path), str(tmp_path), "--name", "n", "--ensemble-gnn", "onnx"],
    )
    assert result.exit_code == 0, result.output
    ensemble = read_config(tmp_path / "n_hits" / "config.pbtxt")
    assert ensemble.ensemble_scheduling.step[1].model_name == "n"
    assert dict(ensemble.ensemble_scheduling.step[1].input_map)["u"] == "u"
    assert _outputs(ensemble) == OUTPUTS


def _edited(source: Path, target: Path, *, output_rows: int | None = None, **graph: object) -> Path:
    """A copy of the model with its first output's row count fixed, or its spec's graph
    entries changed (the checksum is not kept: write with verify_checksum=False)."""
    model = onnx.load(str(source))
    if output_rows is not None:
        model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = output_rows
    for entry in model.metadata_props:
        if entry.key == "e2e_gnn.spec":
            spec = json.loads(entry.value)
            spec["graph"].update(graph)
            entry.value = json.dumps(spec)
    onnx.save_model(model, str(target))
    return target


def test_node_output_with_fixed_rows_is_refused(node_model_path: Path, tmp_path: Path) -> None:
    fixed = _edited(node_model_path, tmp_path / "fixed.onnx", output_rows=7)
    with pytest.raises(ConfigError, match="output 'node_out' has shape \\[7, 2\\]; its first axis"):
        write_repository(fixed, tmp_path / "repo", verify_checksum=False)


def test_inputs_must_be_the_specs(node_model_path: Path, tmp_path: Path) -> None:
    """A model taking u whose graph spec names no graph features is refused, in one line."""
    no_u = _edited(node_model_path, tmp_path / "no_u.onnx", graph_feature_names=[])
    with pytest.raises(ConfigError, match="'u'\\]; a graph model served by Triton takes"):
        write_repository(no_u, tmp_path / "repo", verify_checksum=False)
    result = CliRunner().invoke(triton_repo_command, [str(no_u), str(tmp_path / "r")])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_python_template_checks_graph_feature_rows() -> None:
    check = onnx_model_module().check_graph_features
    batch = np.array([0, 0, 1, 2], dtype=np.int64)
    check({"batch": batch, "u": np.zeros((3, 3), np.float32)})
    check({"batch": batch})  # a model without graph features
    for rows in (2, 4):
        with pytest.raises(ValueError, match=f"'u' has shape \\[{rows}, 3\\]; .* \\(3 graphs\\)"):
            check({"batch": batch, "u": np.zeros((rows, 3), np.float32)})
