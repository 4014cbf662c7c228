"""Graph files for the many-file tests: small, written once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from e2e_gnn import Tagger
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.io import read_graphs, write_graphs
from e2e_gnn.spec import GraphSpec

FILES = 4


@pytest.fixture(scope="session")
def graph_files(tmp_path_factory: pytest.TempPathFactory, make_graphs) -> list[Path]:
    """FILES graph files of 20-40 toy graphs each, with an ``event`` column unique per file."""
    folder = tmp_path_factory.mktemp("inputs")
    paths = []
    for i in range(FILES):
        rng = np.random.default_rng(i)
        sizes = rng.integers(3, 30, size=20 + 5 * i).tolist()
        graphs = make_graphs(sizes, len(TOY_GRAPH_SPEC.feature_names), seed=i)
        event = 1000 * i + np.arange(len(sizes), dtype=np.int64)
        paths.append(
            write_graphs(
                folder / f"part{i}.root",
                graphs,
                feature_names=TOY_GRAPH_SPEC.feature_names,
                event=event,
            )
        )
    return paths


@pytest.fixture(scope="session")
def model(tagger_export) -> Path:
    return tagger_export[2]


@pytest.fixture(scope="session")
def reference(model: Path, graph_files: list[Path]) -> dict[str, np.ndarray]:
    """Scores of each file by one Tagger in this process: what every run must give."""
    with Tagger(model, backend="native") as tagger:
        return {p.stem: tagger.score(read_graphs(p).graphs)[:, 0] for p in graph_files}


JET_GRAPH_SPEC = GraphSpec(
    feature_names=("pt", "eta", "phi", "mass"),
    builder="knn",
    k=4,
    loop=False,
    coordinates=("eta", "phi"),
    coordinate_scale=(1.0, 1.0),
)


@pytest.fixture(scope="session")
def jet_tagger(jet_tagger_export) -> Path:
    """A randomly initialised EdgeConvTagger over each event's jets (pt, eta, phi, mass)."""
    return jet_tagger_export[2]


@pytest.fixture(scope="session")
def jet_tagger_export(tmp_path_factory: pytest.TempPathFactory):
    """The jet tagger: (torch model, graph spec, exported ONNX path)."""
    torch = pytest.importorskip("torch")
    from e2e_gnn.export import export_onnx
    from e2e_gnn.export.parity import default_example
    from e2e_gnn.nn.models import EdgeConvTagger
    from e2e_gnn.spec import ModelSpec

    torch.manual_seed(0)
    model = EdgeConvTagger(len(JET_GRAPH_SPEC.feature_names), hidden=16, num_layers=2).eval()
    spec = ModelSpec(
        name="jet_tagger",
        model_class="EdgeConvTagger",
        hyperparameters=model.hyperparameters,
        graph=JET_GRAPH_SPEC,
    )
    path = tmp_path_factory.mktemp("jet_model") / "jets.onnx"
    export_onnx(model, spec, path, default_example(spec))
    return model, JET_GRAPH_SPEC, path


@pytest.fixture(scope="session")
def object_tagger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An EdgeConvTagger over object graphs whose spec says they come from events by the
    ``objects`` producer (k = 4) of NanoAOD."""
    torch = pytest.importorskip("torch")
    from e2e_gnn.export import export_onnx
    from e2e_gnn.export.parity import default_example
    from e2e_gnn.frames.objects import KINEMATICS, OBJECT_TYPES
    from e2e_gnn.nn.models import EdgeConvTagger
    from e2e_gnn.spec import ModelSpec

    names = KINEMATICS + tuple(f"is_{t}" for t in OBJECT_TYPES)
    graph = GraphSpec(
        feature_names=names, k=4, coordinates=("eta", "phi"), coordinate_scale=(1.0, 1.0)
    )
    torch.manual_seed(1)
    model = EdgeConvTagger(len(names), hidden=16, num_layers=2).eval()
    spec = ModelSpec(
        name="object_tagger",
        model_class="EdgeConvTagger",
        hyperparameters=model.hyperparameters,
        graph=graph,
        producer={"kind": "objects", "options": {"k": 4}, "schema": "nanoaod"},
    )
    path = tmp_path_factory.mktemp("object_model") / "objects.onnx"
    export_onnx(model, spec, path, default_example(spec))
    return path
