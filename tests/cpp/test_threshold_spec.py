"""The displaced-photon ARMAConv GNN (``--model arma``) through the C++ Tagger: trained by
``e2e-gnn train`` on layered frames, exported with the parity check; its graph spec carries
the threshold distances and the layer feature, so the C++ Tagger builds the training
edges from raw pixels (``Tagger::tag(NodeBatch)``, bound as ``_native.Tagger.tag_nodes``)
and ``cpp/examples/reco_plugin`` scores pixel hits, both equal to torch within 1e-5."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_reco_plugin import read_scores, run_plugin

from e2e_gnn import Tagger
from e2e_gnn._native_loader import load_native
from e2e_gnn.cli import main
from e2e_gnn.graphs.from_frames import graphs_from_frames
from e2e_gnn.io import read_frames

torch = pytest.importorskip("torch")
from e2e_gnn.train import load_checkpoint  # noqa: E402  (needs torch)

ATOL = 1e-5
SAME, ADJACENT = 0.3, 0.2  # different, so that mixing them up changes the edges
TOY = Path(__file__).parents[1] / "train" / "_train_frames.py"


def _toy_module():
    spec = importlib.util.spec_from_file_location("_train_frames_for_cpp", TOY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def arma(tmp_path_factory: pytest.TempPathFactory):
    """(torch model, spec, exported file, layered frames [60, 1, 3, 15, 15])."""
    tmp = tmp_path_factory.mktemp("arma")
    frames_path = _toy_module().write_toy_layered_frames(tmp / "layered.root")
    args = ["train", str(frames_path), "--out", str(tmp / "run"), "--model", "arma"]
    args += ["--epochs", "2", "--hidden", "8", "--dense", "8", "--batch-size", "16"]
    args += ["--same-layer", str(SAME), "--adjacent-layer", str(ADJACENT)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    onnx_path = tmp / "arma.onnx"
    export = ["export-onnx", "--checkpoint", str(tmp / "run" / "arma.pt"), "--out", str(onnx_path)]
    result = CliRunner().invoke(main, export)
    assert result.exit_code == 0, result.output
    model, spec = load_checkpoint(tmp / "run" / "arma.pt")
    return model, spec, onnx_path, read_frames(frames_path).frames.frames


def _torch_scores(model, frames: np.ndarray) -> tuple[np.ndarray, object]:
    graphs = graphs_from_frames(frames, edges="threshold", same_layer=SAME, adjacent_layer=ADJACENT)
    with torch.no_grad():
        inputs = [torch.from_numpy(a) for a in graphs.inputs().values()]
        scores = torch.sigmoid(model(*inputs)).numpy()
    assert scores.std() > 1e-3  # not a constant score: parity must mean something
    return scores, graphs


def test_the_spec_carries_the_training_distances(arma) -> None:
    _, spec, onnx_path, _ = arma
    graph = Tagger(onnx_path, backend="native").spec.graph
    assert graph == spec.graph
    assert (graph.builder, graph.layer) == ("threshold", "layer")
    assert (graph.same_layer, graph.adjacent_layer) == (SAME, ADJACENT)


def test_cpp_tagger_builds_the_training_edges_and_scores_like_torch(arma) -> None:
    model, _, onnx_path, frames = arma
    expected, graphs = _torch_scores(model, frames)
    native = load_native().Tagger(str(onnx_path))
    built = native.build_graphs(graphs.x, graphs.node_ptr)
    np.testing.assert_array_equal(built[1], graphs.edge_index)  # the training edges
    np.testing.assert_allclose(
        native.tag_nodes(graphs.x, graphs.node_ptr), expected, atol=ATOL, rtol=0
    )
    for backend in ("native", "onnxruntime"):
        with Tagger(onnx_path, backend=backend) as tagger:
            scores = tagger.tag_nodes(graphs.x, graphs.node_ptr)
            np.testing.assert_allclose(scores, expected, atol=ATOL, rtol=0)


def test_reco_plugin_scores_pixel_hits_like_torch(arma, reco_plugin: Path, tmp_path: Path) -> None:
    """Events of two showers each (one of three without any: the event line `e,-1`); the
    file's columns in another order than the model's, plus one it does not read."""
    model, spec, onnx_path, frames = arma
    expected, graphs = _torch_scores(model, frames)
    names = spec.graph.feature_names  # row, col, layer, CALO
    columns = ("CALO", "extra", "layer", "col", "row")
    lines, jets = ["event,jet," + ",".join(columns)], {}
    for g in range(graphs.num_graphs):
        event, jet = divmod(g, 2)
        if jet == 0 and event % 3 == 2:
            lines.append(f"{1000 + event},-1")
        jets[event, jet] = g
        for hit in graphs.x[graphs.node_ptr[g] : graphs.node_ptr[g + 1]]:
            values = {**dict(zip(names, map(float, hit), strict=True)), "extra": 7.0}
            lines.append(f"{event},{jet}," + ",".join(f"{values[c]:.9g}" for c in columns))
    (tmp_path / "hits.csv").write_text("\n".join(lines) + "\n")
    result = run_plugin(reco_plugin, onnx_path, tmp_path / "hits.csv", tmp_path / "scores.csv")
    assert result.returncode == 0, result.stderr
    scores = read_scores(tmp_path / "scores.csv")
    assert len(scores) == graphs.num_graphs
    served = np.stack([scores[key] for key in jets])
    np.testing.assert_allclose(served, expected[list(jets.values())], atol=ATOL, rtol=0)
