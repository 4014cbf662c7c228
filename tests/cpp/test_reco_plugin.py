"""An external CMake project (cpp/examples/reco_plugin) links the installed library with
find_package(e2e_gnn), tags events of jets (one batched call per event) and gives the
scores of Python onnxruntime and of torch on the graphs Python builds from the same hits;
a model with per-node outputs gets one row per hit."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from e2e_gnn.graphs import graphs_from_spec
from e2e_gnn.graphs.synthetic import graphs_from_features, toy_jets
from e2e_gnn.spec import SPEC_KEY, ModelSpec

ATOL = 1e-5
# Extra and reordered columns: the plugin finds the model's features by name.
FILE_COLUMNS = ("energy_fraction", "layer", "dphi", "deta", "log_energy")


def make_events(feature_names: tuple[str, ...], seed: int = 0) -> list[list[np.ndarray]]:
    """Events of 0 to 14 toy jets (node features in the spec's order)."""
    jets = toy_jets(200, seed=seed)
    per_jet = [jets.graph(g)[0] for g in range(jets.num_graphs)]
    rng = np.random.default_rng(seed)
    events, start = [], 0
    for size in [3, 0, 14, 1, *rng.integers(5, 15, size=12)]:
        events.append(per_jet[start : start + size])
        start += size
    assert start <= len(per_jet) and per_jet[0].shape[1] == len(feature_names)
    return events


def write_events(path: Path, events: list[list[np.ndarray]], names: tuple[str, ...]) -> None:
    lines = ["event,jet," + ",".join(FILE_COLUMNS)]
    for e, event in enumerate(events):
        if not event:
            lines.append(f"{e},-1")
        for j, jet in enumerate(event):
            for hit in jet:
                values = {name: float(v) for name, v in zip(names, hit, strict=True)}
                values["layer"] = 3.0
                lines.append(f"{e},{j}," + ",".join(f"{values[c]:.9g}" for c in FILE_COLUMNS))
    path.write_text("\n".join(lines) + "\n")


def read_scores(path: Path) -> dict[tuple[int, int], np.ndarray]:
    rows = [line.split(",") for line in path.read_text().splitlines()]
    return {(int(r[0]), int(r[1])): np.array(r[2:], dtype=np.float32) for r in rows}


def run_plugin(plugin: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    return subprocess.run(
        [str(plugin), *map(str, args)], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.parametrize("streams", [1, 3])
def test_plugin_scores_match_python_and_torch(
    reco_plugin: Path, tagger_export, tmp_path: Path, streams: int
) -> None:
    torch = pytest.importorskip("torch")
    model, spec, model_path = tagger_export
    events = make_events(spec.graph.feature_names)
    write_events(tmp_path / "events.csv", events, spec.graph.feature_names)

    result = run_plugin(
        reco_plugin, model_path, tmp_path / "events.csv", tmp_path / "scores.csv",
        "--streams", str(streams),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    num_jets = sum(map(len, events))
    calls = sum(1 for event in events if event)
    assert f"{len(events)} events, {num_jets} jets tagged in {calls} inference calls" in (
        result.stdout
    )
    scores = read_scores(tmp_path / "scores.csv")
    assert len(scores) == num_jets

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    for e, event in enumerate(events):
        if not event:
            continue
        graphs = graphs_from_features(event, spec.graph)
        expected_ort = session.run(["scores"], graphs.inputs())[0]
        with torch.no_grad():
            inputs = [torch.from_numpy(a) for a in graphs.inputs().values()]
            expected_torch = torch.sigmoid(model(*inputs)).numpy()
        native = np.stack([scores[e, j] for j in range(len(event))])
        np.testing.assert_allclose(native, expected_ort, atol=ATOL, rtol=0)
        np.testing.assert_allclose(native, expected_torch, atol=ATOL, rtol=0)


def test_plugin_reports_bad_hits_and_missing_features(
    reco_plugin: Path, tagger_export, tmp_path: Path
) -> None:
    _, spec, model_path = tagger_export
    events = make_events(spec.graph.feature_names)[:3]
    events[2][1][4, 2] = np.nan  # event 2, jet 1, hit 4: log_energy
    write_events(tmp_path / "events.csv", events, spec.graph.feature_names)
    result = run_plugin(reco_plugin, model_path, tmp_path / "events.csv", tmp_path / "out.csv")
    assert result.returncode == 1
    assert "input 'x' has a non-finite value nan at node" in result.stderr
    assert "feature 2" in result.stderr

    text = (tmp_path / "events.csv").read_text().replace("log_energy", "log_e", 1)
    (tmp_path / "renamed.csv").write_text(text)
    result = run_plugin(reco_plugin, model_path, tmp_path / "renamed.csv", tmp_path / "out.csv")
    assert result.returncode == 1
    assert "needs hit feature 'log_energy', which the event file does not have" in result.stderr

    result = run_plugin(reco_plugin, tmp_path / "missing.onnx", tmp_path / "events.csv", "o.csv")
    assert result.returncode == 1
    assert "missing.onnx' does not exist" in result.stderr


def test_installed_package_layout(install_prefix: Path) -> None:
    lib = install_prefix / "lib"
    assert (lib / "cmake" / "e2e_gnn" / "e2e_gnnConfig.cmake").is_file()
    assert (lib / "cmake" / "e2e_gnn" / "e2e_gnnConfigVersion.cmake").is_file()
    assert (lib / "libonnxruntime.so.1").is_file()
    assert os.readlink(lib / "libonnxruntime.so") == "libonnxruntime.so.1"
    for header in ("tagger.hpp", "batching.hpp", "model_spec.hpp", "session.hpp", "knn.hpp"):
        assert (install_prefix / "include" / "e2e_gnn" / header).is_file()
    # The generator's detector response is not part of the runtime plugins link.
    assert not (install_prefix / "include" / "e2e_gnn" / "detector.hpp").exists()
    members = subprocess.run(
        ["ar", "t", str(lib / "libe2e_gnn.a")], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "tagger.cpp.o" in members and not [m for m in members if "detector" in m]
    assert (install_prefix / "include" / "onnxruntime" / "onnxruntime_cxx_api.h").is_file()


def test_plugin_runs_unsafe_models_on_one_thread_and_says_so(
    reco_plugin: Path, tagger_export, tmp_path: Path
) -> None:
    _, spec, model_path = tagger_export
    model = onnx.load(model_path)
    for prop in model.metadata_props:
        if prop.key == SPEC_KEY:
            prop.value = json.dumps({**json.loads(prop.value), "thread_safe": False})
    onnx.save(model, tmp_path / "unsafe.onnx")
    write_events(
        tmp_path / "events.csv", make_events(spec.graph.feature_names), spec.graph.feature_names
    )
    one = run_plugin(
        reco_plugin, tmp_path / "unsafe.onnx", tmp_path / "events.csv", tmp_path / "1.csv"
    )
    two = run_plugin(
        reco_plugin, tmp_path / "unsafe.onnx", tmp_path / "events.csv", tmp_path / "2.csv",
        "--intra-op-threads", "2",
    )  # fmt: skip
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert "warning" not in one.stderr
    assert "is not marked thread_safe" in two.stderr
    assert "running it on 1 intra-op thread, not 2" in two.stderr
    assert (tmp_path / "1.csv").read_text() == (tmp_path / "2.csv").read_text()


def test_plugin_gives_the_same_scores_on_any_thread_count(
    reco_plugin: Path, tagger_export, tmp_path: Path
) -> None:
    """An export is thread-safe (no scatter reduction): the plugin's scores are the same
    to the last digit written on 1 and 2 intra-op threads, run after run."""
    _, spec, model_path = tagger_export
    assert spec.thread_safe
    names = spec.graph.feature_names
    write_events(tmp_path / "events.csv", make_events(names, seed=3), names)
    outputs = []
    for run, threads in enumerate(["1", "2", "2", "2"]):
        out = tmp_path / f"{run}.csv"
        done = run_plugin(
            reco_plugin, model_path, tmp_path / "events.csv", out, "--intra-op-threads", threads
        )
        assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
        outputs.append(out.read_text())
    assert outputs[1:] == outputs[:1] * 3


NODE_COLUMNS = ("energy", "rho", "phi", "layer", "eta", "jet_pt")


def _node_models():
    pytest.importorskip("onnx")
    found = importlib.util.spec_from_file_location(
        "node_models", Path(__file__).resolve().parents[2] / "cpp" / "tests" / "node_models.py"
    )
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


@pytest.mark.parametrize("model_name", ["node_model", "node_model_u"])
@pytest.mark.parametrize("per_jet", [False, True])
def test_plugin_writes_one_row_per_hit_for_node_outputs(
    reco_plugin: Path, tmp_path: Path, model_name: str, per_jet: bool
) -> None:
    """Per-node outputs (fraction [N, 2]) and the jet's per-graph one (total [G, 1]) on every
    hit row, against the NumPy reference and Python onnxruntime: Delaunay graphs (one-hit
    and two-hit jets, jets across phi = +-pi) or none with jet-level graph features."""
    node_models = _node_models()
    node_models.write(tmp_path)
    model_path = tmp_path / f"{model_name}.onnx"
    rng = np.random.default_rng(11)
    events = []  # per event: per jet (x [n, 3] eta/phi/energy, u [2] jet_pt/rho)
    for sizes in ([3, 1, 8], [], [1], [2, 12, 5, 1]):
        jets = []
        for n in sizes:
            phi = np.mod(np.pi + rng.normal(0, 0.1, n) + np.pi, 2 * np.pi) - np.pi
            x = np.stack([rng.normal(0, 0.1, n), phi, rng.uniform(1, 10, n)], axis=1)
            jets.append((x.astype(np.float32), rng.normal(size=2).astype(np.float32)))
        events.append(jets)
    lines = ["event,jet," + ",".join(NODE_COLUMNS)]
    for e, jets in enumerate(events):
        if not jets:
            lines.append(f"{e},-1")
        for j, (x, u) in enumerate(jets):
            for hit in x:
                values = dict(zip(("eta", "phi", "energy"), hit, strict=True))
                values.update(jet_pt=u[0], rho=u[1], layer=2.0)
                lines.append(f"{e},{j}," + ",".join(f"{values[c]:.9g}" for c in NODE_COLUMNS))
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")

    options = ["--per-jet"] if per_jet else []
    result = run_plugin(
        reco_plugin, model_path, tmp_path / "events.csv", tmp_path / "out.csv", *options
    )
    assert result.returncode == 0, result.stderr
    assert "one row per hit" in result.stdout
    rows = [line.split(",") for line in (tmp_path / "out.csv").read_text().splitlines()]
    got = {(int(r[0]), int(r[1]), int(r[2])): np.array(r[3:], np.float32) for r in rows}
    assert len(got) == sum(len(x) for jets in events for x, _ in jets)

    spec = ModelSpec.from_metadata({p.key: p.value for p in onnx.load(model_path).metadata_props})
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    for e, jets in enumerate(events):
        if not jets:
            continue
        x = np.concatenate([x for x, _ in jets])
        ptr = np.concatenate([[0], np.cumsum([len(x) for x, _ in jets])]).astype(np.int64)
        u = np.stack([u for _, u in jets]) if spec.num_graph_features else None
        graphs = graphs_from_spec(x, ptr, spec.graph)
        fraction, total = node_models.reference(x, graphs.edge_index, ptr, u)
        feed = graphs.inputs() if u is None else {**graphs.inputs(), "u": u}
        ort_fraction, ort_total = session.run(["fraction", "total"], feed)
        for j in range(len(jets)):
            for hit in range(ptr[j], ptr[j + 1]):
                row = got[e, j, hit - ptr[j]]
                expected = np.concatenate([fraction[hit], total[j]])
                np.testing.assert_allclose(row, expected, atol=ATOL, rtol=0)
                ort_row = np.concatenate([ort_fraction[hit], ort_total[j]])
                np.testing.assert_allclose(row, ort_row, atol=ATOL, rtol=0)
