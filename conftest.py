"""Fixtures shared by every test directory: an exported tagger and graph batches.

It sits at the repository root, not in tests/, so that pytest never puts tests/ itself on
sys.path (tests/triton would then shadow the real ``triton`` package torch imports).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parent / ".." / "shared" / "data"
# the two node-level study models, exported once per session (fixture ``study_models``)
pytest_plugins = ("tests.study_models",)


def _export_toy_tagger(path: Path, name: str, seed: int, fused_ops: bool = False):  # type: ignore[no-untyped-def]
    """A randomly initialised EdgeConvTagger on the toy graph spec exported to ``path``:
    (model, spec as written into the file)."""
    import torch

    from e2e_gnn.export import export_onnx
    from e2e_gnn.export.parity import default_example
    from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
    from e2e_gnn.nn.models import EdgeConvTagger
    from e2e_gnn.spec import ModelSpec

    torch.manual_seed(seed)
    model = EdgeConvTagger(len(TOY_GRAPH_SPEC.feature_names), hidden=16, num_layers=2).eval()
    spec = ModelSpec(
        name=name,
        model_class="EdgeConvTagger",
        hyperparameters=model.hyperparameters,
        graph=TOY_GRAPH_SPEC,
    )
    export_onnx(model, spec, path, default_example(spec), fused_ops=fused_ops)
    # the spec as written into the file: the exporter sets thread_safe from the graph
    return model, dataclasses.replace(spec, thread_safe=True)


@pytest.fixture(scope="session")
def tagger_export(tmp_path_factory: pytest.TempPathFactory):
    """A randomly initialised EdgeConvTagger exported to ONNX: (model, spec, path)."""
    pytest.importorskip("torch")
    path = tmp_path_factory.mktemp("model") / "tagger.onnx"
    return (*_export_toy_tagger(path, "test_tagger", seed=0), path)


@pytest.fixture
def export_toy_tagger():  # type: ignore[no-untyped-def]
    """The exporter of ``tagger_export`` (path, name, seed[, fused_ops]): export again."""
    return _export_toy_tagger


@pytest.fixture(scope="session")
def fused_tagger_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another EdgeConvTagger (seed 1) exported with fused operators: its path."""
    pytest.importorskip("torch")
    path = tmp_path_factory.mktemp("fused_model") / "tiny_fused.onnx"
    _export_toy_tagger(path, "tiny_fused", seed=1, fused_ops=True)
    return path


@pytest.fixture(scope="session")
def make_graphs():
    """make_graphs(sizes, num_features, seed=0): kNN graphs (toy spec) with random features."""
    from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, graphs_from_features, random_features

    def make(sizes: list[int], num_features: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        return graphs_from_features(random_features(rng, sizes, num_features), TOY_GRAPH_SPEC)

    return make


@pytest.fixture(scope="session")
def changed_after_export():
    """``changed_after_export(source, target)``: ``source`` saved to ``target`` with its
    first float weight changed and its metadata (the export's checksum) kept, as if someone
    edited the weights of an exported model."""
    import onnx

    def change(source: Path, target: Path) -> Path:
        model = onnx.load(str(source))
        weight = next(t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
        values = onnx.numpy_helper.to_array(weight).copy()
        values.flat[0] += 1.0
        weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
        onnx.save_model(model, str(target))
        return target

    return change


@pytest.fixture(scope="session")
def node_export(tmp_path_factory: pytest.TempPathFactory):
    """A randomly initialised node-level model with graph features u [G, 3], exported to
    ONNX (e2e_gnn.export.node_example): outputs ``node_out`` [N, 2] per node (primary) and
    ``graph_out`` [G, 1] per graph. (model, spec as written into the file, path)."""
    pytest.importorskip("torch")
    import torch

    from e2e_gnn.export import export_onnx
    from e2e_gnn.export.node_example import NodeExampleModel, node_example_spec
    from e2e_gnn.export.parity import default_example
    from e2e_gnn.model_file import ModelFile

    torch.manual_seed(0)
    model = NodeExampleModel().eval()
    spec = node_example_spec(model, "test_node_model")
    path = tmp_path_factory.mktemp("node_model") / "node_model.onnx"
    export_onnx(model, spec, path, default_example(spec))
    return model, ModelFile.read(path).spec, path
