"""config.pbtxt generation, validated against Triton's ModelConfig protobuf (no server)."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("tritonclient", reason="tritonclient missing: run scripts/install_triton.sh")

from _helpers import graph_builder_module
from tritonclient.grpc import model_config_pb2 as mc

from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, graphs_from_features, random_features
from e2e_gnn.runtime.triton_backend import pack_hits
from e2e_gnn.triton import (
    ConfigError,
    Deployment,
    read_config,
    validate_repository,
    write_repository,
)
from e2e_gnn.triton.repository import recipe_from_spec

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


def test_graph_builder_matches_training(rng) -> None:
    """The ensemble's builder gives the graphs training builds (graphs_from_features)."""
    builder = graph_builder_module()
    knn, _ = builder.load_knn()
    events = random_features(rng, [1, 2, 9, 30], len(TOY_GRAPH_SPEC.feature_names))
    packed = pack_hits(events)
    recipe = recipe_from_spec({"graph": asdict(TOY_GRAPH_SPEC)}, 4).as_parameters()
    x, edge_index, batch = builder.build_graph(
        packed["hits"],
        packed["hits_batch"],
        coordinates=json.loads(recipe["coordinates"]),
        coordinate_scale=json.loads(recipe["coordinate_scale"]),
        k=int(recipe["k"]),
        loop=recipe["loop"] == "true",
        knn=knn,
    )
    expected = graphs_from_features(events, TOY_GRAPH_SPEC)
    np.testing.assert_array_equal(x, expected.x)
    np.testing.assert_array_equal(edge_index, expected.edge_index)
    np.testing.assert_array_equal(batch, expected.batch)


def test_bad_arguments(model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model name 'bad name'"):
        write_repository(model_path, tmp_path, name="bad name")
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
    with pytest.raises(ConfigError, match="external data file"):
        write_repository(tmp_path / "split.onnx", tmp_path / "repo")
