"""config.pbtxt generation, validated against Triton's ModelConfig protobuf (no server)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("tritonclient", reason="tritonclient missing: run scripts/install_triton.sh")

from _helpers import graph_builder_module, onnx_model_module
from click.testing import CliRunner
from tritonclient.grpc import model_config_pb2 as mc

from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.graphs.reference import knn_reference
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, random_features
from e2e_gnn.model_file import ModelFile
from e2e_gnn.spec import GraphSpec, SpecError
from e2e_gnn.triton import (
    ConfigError,
    Deployment,
    read_config,
    validate_repository,
    write_repository,
)
from e2e_gnn.triton.cli import triton_repo_command

TEMPLATES = Path(__file__).parents[2] / "triton_models"


def test_written_repository_is_valid(repository: Path) -> None:
    configs = validate_repository(repository)
    assert sorted(configs) == ["tiny", "tiny_graph_builder", "tiny_hits", "tiny_python"]
    gnn = configs["tiny"]
    assert gnn.platform == "onnxruntime_onnx" and gnn.max_batch_size == 0
    dims = {t.name: (t.data_type, list(t.dims)) for t in gnn.input}
    assert dims == {
        "x": (mc.TYPE_FP32, [-1, 4]),
        "edge_index": (mc.TYPE_INT64, [2, -1]),
        "batch": (mc.TYPE_INT64, [-1]),
    }
    assert [(t.name, list(t.dims)) for t in gnn.output] == [("scores", [-1, 1])]
    assert gnn.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
    assert len(gnn.parameters["e2e_gnn.checksum"].string_value) == 64
    assert configs["tiny_python"].backend == "python"
    steps = [s.model_name for s in configs["tiny_hits"].ensemble_scheduling.step]
    assert steps == ["tiny_graph_builder", "tiny_python"]
    assert (repository / "tiny" / "1" / "model.onnx").is_file()
    assert (repository / "tiny_python" / "1" / "model.py").is_file()


def test_gpu_instances_and_onnx_ensemble(tmp_path: Path, model_path: Path) -> None:
    deployment = Deployment(kind="gpu", count=2, gpus=(0,))
    write_repository(model_path, tmp_path, name="g", deployment=deployment, ensemble_gnn="onnx")
    config = read_config(tmp_path / "g" / "config.pbtxt")
    group = config.instance_group[0]
    assert (group.kind, group.count, list(group.gpus)) == (mc.ModelInstanceGroup.KIND_GPU, 2, [0])
    ensemble = read_config(tmp_path / "g_hits" / "config.pbtxt")
    assert ensemble.ensemble_scheduling.step[1].model_name == "g"


def test_checked_in_templates_are_valid() -> None:
    configs = validate_repository(TEMPLATES)
    assert configs, f"no templates in {TEMPLATES}"


def test_unknown_field_is_refused(repository: Path, tmp_path: Path) -> None:
    shutil.copytree(repository, tmp_path / "repo")
    config = tmp_path / "repo" / "tiny" / "config.pbtxt"
    config.write_text(config.read_text() + "\nmax_batch: 4\n")
    with pytest.raises(ConfigError, match="max_batch"):
        validate_repository(tmp_path / "repo")


def test_name_must_match_folder(repository: Path, tmp_path: Path) -> None:
    shutil.copytree(repository, tmp_path / "repo")
    (tmp_path / "repo" / "tiny").rename(tmp_path / "repo" / "other")
    with pytest.raises(ConfigError, match="must match its folder 'other'"):
        validate_repository(tmp_path / "repo")


def test_ensemble_needs_its_models(repository: Path, tmp_path: Path) -> None:
    shutil.copytree(repository, tmp_path / "repo")
    shutil.rmtree(tmp_path / "repo" / "tiny_graph_builder")
    with pytest.raises(ConfigError, match="'tiny_graph_builder', not in the repository"):
        validate_repository(tmp_path / "repo")


def _hits(events: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hits, hits_batch, ptr) of per-graph hit arrays."""
    sizes = [len(e) for e in events]
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    batch = np.repeat(np.arange(len(events), dtype=np.int64), sizes)
    return np.concatenate(events), batch, ptr


def test_graph_builder_is_graphs_from_spec(repository: Path, model_path: Path, rng) -> None:
    """The ensemble's builder, with the spec its config carries, builds the graphs that
    graphs_from_spec (training, Python and C++ runtimes) builds; the edges are also checked
    against the brute-force NumPy kNN over the spec's scaled coordinates."""
    builder = graph_builder_module()
    builder.import_e2e_gnn()
    config = read_config(repository / "tiny_graph_builder" / "config.pbtxt")
    spec = GraphSpec.from_dict(json.loads(config.parameters["graph_spec"].string_value))
    assert spec == ModelFile.read(model_path).spec.graph == TOY_GRAPH_SPEC
    hits, hits_batch, ptr = _hits(random_features(rng, [1, 2, 9, 30, 3], 4))
    x, edge_index, batch = builder.build_graph(hits, hits_batch, spec)
    expected = graphs_from_spec(hits, ptr, spec)
    np.testing.assert_array_equal(x, expected.x)
    np.testing.assert_array_equal(edge_index, expected.edge_index)
    np.testing.assert_array_equal(batch, hits_batch)
    columns = [spec.feature_names.index(c) for c in spec.coordinates]
    pos = hits[:, columns] * np.asarray(spec.coordinate_scale, dtype=np.float32)
    np.testing.assert_array_equal(edge_index, knn_reference(pos, ptr, spec.k, loop=spec.loop))
    assert edge_index.shape[1] == sum(min(8, n - 1) * n for n in np.diff(ptr))


@pytest.mark.parametrize(
    ("hits_batch", "match"),
    [
        ([0, 0, 1, 0], "batch"),  # unsorted
        ([0, 0, 2, 2], "batch"),  # graph 1 has no hit
        ([1, 1, 1, 1], "batch"),  # does not start at 0
        ([0, 0, 1], "batch"),  # one id short
        ([], "every graph needs at least one hit"),
    ],
    ids=["unsorted", "empty-graph", "not-from-0", "short", "no-ids"],
)
def test_graph_builder_refuses_bad_hits(hits_batch: list[int], match: str, rng) -> None:
    builder = graph_builder_module()
    builder.import_e2e_gnn()
    hits = rng.standard_normal((4, 4)).astype(np.float32)
    with pytest.raises(ValueError, match=match):
        builder.build_graph(hits, np.asarray(hits_batch, dtype=np.int64), TOY_GRAPH_SPEC)


def test_graph_builder_needs_e2e_gnn_native(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NumPy fallback: without e2e_gnn's native module the builder says what to set."""
    builder = graph_builder_module()

    def broken() -> None:
        msg = "libonnxruntime.so.1: cannot open shared object file"
        raise ImportError(msg)

    monkeypatch.setattr("e2e_gnn._native_loader.load_native", broken)
    with pytest.raises(ImportError, match="E2E_GNN_NATIVE_DIR=.*libonnxruntime.so.1"):
        builder.import_e2e_gnn()


def test_bad_arguments(model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model name 'bad name'"):
        write_repository(model_path, tmp_path, name="bad name")
    with pytest.raises(ConfigError, match=r"model name 'tiny\\n'"):
        write_repository(model_path, tmp_path, name="tiny\n")
    assert not (tmp_path / "tiny\n").exists()
    with pytest.raises(ConfigError, match="add it to variants"):
        write_repository(model_path, tmp_path, variants=("onnx", "ensemble"))
    with pytest.raises(ConfigError, match="instance kind 'tpu'"):
        write_repository(model_path, tmp_path, deployment=Deployment(kind="tpu"))


def test_checked_in_templates_match_the_writer(model_path: Path, tmp_path: Path) -> None:
    """triton_models/ is what ``e2e-gnn triton-repo`` writes for the tiny model today."""
    write_repository(model_path, tmp_path, name="example_gnn")
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    checked_in = sorted(
        p.relative_to(TEMPLATES)
        for p in TEMPLATES.rglob("*")
        if p.is_file() and p.name != "README.md" and "__pycache__" not in p.parts
    )
    assert checked_in == written
    for path in written:
        assert (TEMPLATES / path).read_bytes() == (tmp_path / path).read_bytes(), (
            f"triton_models/{path} is stale: regenerate with `e2e-gnn triton-repo "
            f"tests/triton/data/tiny_gnn.onnx triton_models --name example_gnn`"
        )


def test_external_data_is_refused(model_path: Path, tmp_path: Path) -> None:
    model = onnx.load(str(model_path))
    onnx.save_model(
        model,
        str(tmp_path / "split.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="split.onnx.data",
        size_threshold=0,
    )
    with pytest.raises(SpecError, match="external data file, which its checksum cannot cover"):
        write_repository(tmp_path / "split.onnx", tmp_path / "repo")
    with pytest.raises(ConfigError, match="external data file; Triton needs one self-contained"):
        write_repository(tmp_path / "split.onnx", tmp_path / "repo", verify_checksum=False)


def test_changed_weights_are_refused(
    model_path: Path, tmp_path: Path, changed_after_export
) -> None:
    """The repository carries the export's checksum: a model changed since is refused."""
    changed_after_export(model_path, tmp_path / "changed.onnx")
    with pytest.raises(SpecError, match="was changed after export"):
        write_repository(tmp_path / "changed.onnx", tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def _with_spec(model_path: Path, path: Path, **changes: object) -> Path:
    """A copy of the model whose spec metadata has ``changes`` (the checksum covers the
    graph, not the metadata, so it stays valid)."""
    model = onnx.load(str(model_path))
    for entry in model.metadata_props:
        if entry.key == "e2e_gnn.spec":
            entry.value = json.dumps({**json.loads(entry.value), **changes})
    onnx.save_model(model, str(path))
    return path


def _parameters(config: mc.ModelConfig) -> dict[str, str]:
    return {key: value.string_value for key, value in config.parameters.items()}


def test_threads_of_a_model_that_is_not_thread_safe(model_path: Path, tmp_path: Path) -> None:
    """thread_safe false (and models exported before the field): 1 intra-op thread, warned."""
    assert not ModelFile.read(model_path).spec.thread_safe
    with pytest.warns(RuntimeWarning, match="not thread-safe .* intra-op threads 1, not 4"):
        write_repository(model_path, tmp_path, name="m", deployment=Deployment(intra_op_threads=4))
    python = _parameters(read_config(tmp_path / "m_python" / "config.pbtxt"))
    assert (python["intra_op_threads"], python["thread_safe"]) == ("1", "false")
    onnx_entry = _parameters(read_config(tmp_path / "m" / "config.pbtxt"))
    assert onnx_entry["intra_op_thread_count"] == "1"


def test_threads_of_a_thread_safe_model(model_path: Path, tmp_path: Path) -> None:
    safe = _with_spec(model_path, tmp_path / "safe.onnx", thread_safe=True)
    write_repository(safe, tmp_path / "repo", name="m", deployment=Deployment(intra_op_threads=4))
    python = _parameters(read_config(tmp_path / "repo" / "m_python" / "config.pbtxt"))
    assert (python["intra_op_threads"], python["thread_safe"]) == ("4", "true")
    onnx_entry = _parameters(read_config(tmp_path / "repo" / "m" / "config.pbtxt"))
    assert onnx_entry["intra_op_thread_count"] == "4"


def test_triton_repo_threads_warns(model_path: Path, tmp_path: Path) -> None:
    args = [str(model_path), str(tmp_path / "repo"), "--name", "m", "--threads", "2"]
    result = CliRunner().invoke(triton_repo_command, args)
    assert result.exit_code == 0, result.output
    assert "Warning: " in result.output and "intra-op threads 1, not 2" in result.output
    assert "wrote " in result.output


class _Logger:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def log_warn(self, message: str) -> None:
        self.warnings.append(message)


@pytest.mark.parametrize(
    ("params", "threads", "warned"),
    [
        ({"intra_op_threads": "4", "thread_safe": "false"}, 1, True),
        ({"intra_op_threads": "0"}, 1, True),  # 0 = all cores; no thread_safe: an old config
        ({"intra_op_threads": "1", "thread_safe": "false"}, 1, False),
        ({"intra_op_threads": "4", "thread_safe": "true"}, 4, False),
    ],
)
def test_python_template_enforces_one_thread(
    params: dict[str, str], threads: int, warned: bool
) -> None:
    """The python-backend template itself guards a hand-edited config."""
    logger = _Logger()
    assert onnx_model_module().intra_op_threads(params, "m", logger) == threads
    assert bool(logger.warnings) == warned
    assert all("not thread-safe" in w for w in logger.warnings)


def test_ensemble_needs_a_graph_spec(model_path: Path, tmp_path: Path) -> None:
    frames_only = _with_spec(model_path, tmp_path / "frames.onnx", graph=None)
    with pytest.raises(ConfigError, match="has no graph spec: the hits ensemble"):
        write_repository(frames_only, tmp_path / "repo")
    written = write_repository(frames_only, tmp_path / "repo", variants=("onnx", "python"))
    assert sorted(written.models) == ["onnx", "python"]


def test_triton_repo_user_errors_are_one_line(model_path: Path, tmp_path: Path) -> None:
    (tmp_path / "scores.csv").write_text("event,score\n1,0.5\n")
    cases = [
        ([str(tmp_path / "scores.csv"), str(tmp_path / "repo")], "as an ONNX model"),
        ([str(model_path), str(tmp_path / "repo"), "--name", "a b"], "model name 'a b'"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(triton_repo_command, args)
        assert result.exit_code == 1 and result.output.startswith("Error: "), result.output
        assert message in result.output and "Traceback" not in result.output
