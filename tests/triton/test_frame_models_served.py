"""The physics models served by a real tritonserver, equal to torch within 1e-5: the
displaced-photon 3D CNN (``cnn3d``, layered frames [B, 1, 3, 15, 15]) and ARMAConv GNN
(``arma``, threshold graphs of the same showers: served graphs, and the hits ensemble whose
graph builder makes the threshold edges from the model's spec), and the CMS E2E ResNet-15
(``resnet15``, 125 x 125 frames), each trained by ``e2e-gnn train``, exported with the parity
check and written by ``e2e-gnn triton-repo``; the C++ Tagger on the same inputs too."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from e2e_gnn import Tagger
from e2e_gnn.cli import main
from e2e_gnn.graphs.from_frames import graphs_from_frames
from e2e_gnn.io import read_frames, write_frames
from e2e_gnn.runtime.triton_backend import TritonBackend
from e2e_gnn.triton import TritonServer, write_repository
from e2e_gnn.triton.config import ConfigError

torch = pytest.importorskip("torch")
from e2e_gnn.train import load_checkpoint  # noqa: E402  (needs torch)

pytestmark = pytest.mark.triton
PROTOCOLS = ["http", "grpc"]
ATOL = 1e-5
SAME, ADJACENT = 0.3, 0.2
TINY = ["--epochs", "2", "--width", "4", "--dense", "8", "--hidden", "8", "--batch-size", "16"]
TOY = Path(__file__).parents[1] / "train" / "_train_frames.py"


def _cli(*args: str) -> None:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output


def _jet_frames(path: Path, count: int = 12, size: int = 125) -> Path:
    """``count`` sparse 3-channel ``size`` x ``size`` frames, a narrow (label 1) or wide
    (label 0) blob near the centre; each event holds one of each, so every split has both."""
    rng = np.random.default_rng(2)
    label = np.arange(count) % 2
    rows, cols = np.mgrid[:size, :size]
    centre = size / 2 + rng.normal(0, 3, size=(count, 2))
    width = np.where(label == 1, 3.0, 8.0)[:, None, None]
    d2 = (rows - centre[:, 0, None, None]) ** 2 + (cols - centre[:, 1, None, None]) ** 2
    energy = rng.exponential(1.0, (count, 3, size, size)) * np.exp(-d2 / (2 * width**2))[:, None]
    energy[energy < 0.05] = 0.0
    event = np.arange(count) // 2
    return write_frames(
        path, energy.astype(np.float32), ("ECAL", "HCAL", "tracks"),
        label=label.astype(np.int32), event=event, index=np.arange(count) % 2,
    )  # fmt: skip


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """name -> (torch model, exported .onnx, frames of its test inputs)."""
    tmp = tmp_path_factory.mktemp("physics")
    found = importlib.util.spec_from_file_location("_train_frames_for_triton", TOY)
    assert found is not None and found.loader is not None
    toy = importlib.util.module_from_spec(found)
    found.loader.exec_module(toy)
    layered = toy.write_toy_layered_frames(tmp / "layered.root")
    jets = _jet_frames(tmp / "jets.root")
    _cli("train", str(layered), "--out", str(tmp / "run"), "--model", "cnn3d,arma", *TINY,
         "--same-layer", str(SAME), "--adjacent-layer", str(ADJACENT))  # fmt: skip
    _cli("train", str(jets), "--out", str(tmp / "run"), "--model", "resnet15", *TINY)
    out = {}
    for name, frames_path in (("cnn3d", layered), ("arma", layered), ("resnet15", jets)):
        onnx_path = tmp / f"{name}.onnx"
        _cli(
            "export-onnx", "--checkpoint", str(tmp / "run" / f"{name}.pt"), "--out", str(onnx_path)
        )
        model, _ = load_checkpoint(tmp / "run" / f"{name}.pt")
        out[name] = (model, onnx_path, read_frames(frames_path).frames.frames)
    return out


@pytest.fixture(scope="module")
def server(exports, tmp_path_factory, server_binary: Path) -> Iterator[TritonServer]:
    root = tmp_path_factory.mktemp("physics_repo")
    for name, (_, onnx_path, _) in exports.items():
        _cli("triton-repo", str(onnx_path), str(root), "--name", name)
    running = TritonServer(root, binary=server_binary, startup_timeout_s=90).start()
    try:
        yield running
    finally:
        running.stop()


def _url(server: TritonServer, protocol: str) -> str:
    return server.http_url if protocol == "http" else server.grpc_url


def _torch(model, *inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        scores = torch.sigmoid(model(*(torch.from_numpy(a) for a in inputs))).numpy()
    assert scores.std() > 1e-3  # not a constant score: parity must mean something
    return scores


def test_repository_entries_by_model_kind(exports, tmp_path: Path) -> None:
    """Frame models get the onnxruntime and python entries only (no graph to build); asking
    for the hits ensemble is refused before anything is written."""
    written = write_repository(exports["cnn3d"][1], tmp_path / "repo", name="cnn3d")
    assert set(written.models) == {"onnx", "python"}
    with pytest.raises(ConfigError, match="has no graph spec: the hits ensemble cannot build"):
        write_repository(
            exports["resnet15"][1], tmp_path / "other", variants=("python", "ensemble")
        )
    assert not (tmp_path / "other").exists()
    written = write_repository(exports["arma"][1], tmp_path / "repo", name="arma")
    assert set(written.models) == {"onnx", "python", "graph_builder", "ensemble"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", ["cnn3d", "resnet15"])
def test_frame_models_equal_torch(exports, server, name: str, protocol: str) -> None:
    model, onnx_path, frames = exports[name]
    frames = frames[:12] if name == "cnn3d" else frames[:2]  # ResNet-15 on 125 x 125: two
    frames = frames.copy()
    frames[-1] = 0.0  # an empty frame
    expected = _torch(model, frames)
    with TritonBackend(onnx_path, url=_url(server, protocol), protocol=protocol) as client:
        served = client.run({"frames": frames})["scores"]
        assert client.model_name == f"{name}_python"
    np.testing.assert_allclose(served, expected, atol=ATOL, rtol=0)
    with Tagger(onnx_path, backend="native") as tagger:  # the C++ Tagger
        np.testing.assert_allclose(tagger(frames), expected, atol=ATOL, rtol=0)
    url = _url(server, protocol)
    with Tagger(onnx_path, backend="triton", url=url, protocol=protocol) as tagger:
        np.testing.assert_allclose(tagger(frames), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_arma_graphs_and_hits_equal_torch(exports, server, protocol: str) -> None:
    """The served GNN on the training graphs, and the hits ensemble on the raw pixels
    (row, col, layer, energy): its builder makes the training edges from the spec."""
    model, onnx_path, frames = exports["arma"]
    frames = frames[:20]
    graphs = graphs_from_frames(frames, edges="threshold", same_layer=SAME, adjacent_layer=ADJACENT)
    expected = _torch(model, *graphs.inputs().values())
    url = _url(server, protocol)
    with TritonBackend(onnx_path, url=url, protocol=protocol, max_graphs_per_request=8) as client:
        served = client.run_graphs([graphs.graph(g) for g in range(graphs.num_graphs)])
    np.testing.assert_allclose(served["scores"], expected, atol=ATOL, rtol=0)
    hits = [graphs.x[graphs.node_ptr[g] : graphs.node_ptr[g + 1]] for g in range(graphs.num_graphs)]
    with TritonBackend(onnx_path, url=url, protocol=protocol, model_name="arma_hits") as client:
        served = client.run_graphs(hits)
    np.testing.assert_allclose(served["scores"], expected, atol=ATOL, rtol=0)
    log = server.log_path.read_text(errors="replace")
    assert "arma_graph_builder: graphs from e2e_gnn graphs_from_spec" in log
