"""One Tagger, one spec rule and one thread rule on every backend, validation before
chunking, and no crash from any binding (issues 11 and 12)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest

from e2e_gnn import GraphBatch, SpecError, Tagger
from e2e_gnn._native_loader import load_native
from e2e_gnn.spec import SPEC_KEY, VERSION_KEY, ModelSpec

BACKENDS = ["onnxruntime", "native"]
ATOL = 1e-5
native = load_native()


def with_metadata(source: Path, target: Path, key: str, change) -> Path:
    """A copy of the model at `source` whose metadata value `key` becomes change(value)."""
    model = onnx.load(source)
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = change(prop.value)
    onnx.save(model, target)
    return target


def with_spec(source: Path, target: Path, **changes: object) -> Path:
    return with_metadata(
        source, target, SPEC_KEY, lambda v: json.dumps({**json.loads(v), **changes})
    )


def with_graph(source: Path, target: Path, **changes: object) -> Path:
    def change(value: str) -> str:
        spec = json.loads(value)
        return json.dumps({**spec, "graph": {**spec["graph"], **changes}})

    return with_metadata(source, target, SPEC_KEY, change)


def torch_scores(model, batch: GraphBatch) -> np.ndarray:
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        return torch.sigmoid(model(*map(torch.from_numpy, batch.inputs().values()))).numpy()


SPEC_CASES = {
    "list": (SPEC_KEY, lambda v: "[1, 2]", "the spec must be a JSON object, got [1,2]"),
    "string": (SPEC_KEY, lambda v: '"knn"', 'the spec must be a JSON object, got "knn"'),
    "graph list": (
        SPEC_KEY,
        lambda v: json.dumps({**json.loads(v), "graph": ["deta"]}),
        "'graph' must be an object",
    ),
    "float k": (
        SPEC_KEY,
        lambda v: json.dumps({**json.loads(v), "graph": {**json.loads(v)["graph"], "k": 8.5}}),
        "'graph.k' must be an integer, got 8.5",
    ),
    "string k": (
        SPEC_KEY,
        lambda v: json.dumps({**json.loads(v), "graph": {**json.loads(v)["graph"], "k": "8"}}),
        "'graph.k' must be an integer, got \"8\"",
    ),
    "format": (SPEC_KEY, lambda v: json.dumps({**json.loads(v), "format": 7}), "spec format 7"),
    "major version": (VERSION_KEY, lambda v: "3.1.0", "was exported by e2e_gnn 3.1.0"),
}


@pytest.mark.parametrize("case", SPEC_CASES.values(), ids=SPEC_CASES.keys())
def test_python_and_cpp_spec_readers_refuse_alike(tagger_export, tmp_path: Path, case) -> None:
    key, change, message = case
    path = with_metadata(tagger_export[2], tmp_path / "bad.onnx", key, change)
    metadata = {p.key: p.value for p in onnx.load(path).metadata_props}
    errors = []
    for call in (
        lambda: ModelSpec.from_metadata(metadata, source=f"model {str(path)!r}"),
        lambda: native.Tagger(str(path)),
        lambda: Tagger(path, backend="onnxruntime"),
        lambda: Tagger(path, backend="native"),
    ):
        with pytest.raises(SpecError) as error:
            call()
        errors.append(str(error.value))
    assert message in errors[0]
    assert errors == [errors[0]] * 4


def test_python_spec_reader_refuses_wrong_types_with_the_field(tagger_export) -> None:
    text = ModelSpec.to_json(tagger_export[1])
    assert ModelSpec.from_json(text) == tagger_export[1]
    unknown = json.dumps({**json.loads(text), "future_field": 1})
    assert ModelSpec.from_json(unknown) == tagger_export[1]
    with pytest.raises(SpecError, match="model has a malformed e2e_gnn spec: 'name' must be a"):
        ModelSpec.from_json(json.dumps({**json.loads(text), "name": ["a"]}))
    with pytest.raises(SpecError, match="'thread_safe' must be true or false, got 1"):
        ModelSpec.from_json(json.dumps({**json.loads(text), "thread_safe": 1}))


@pytest.mark.parametrize("backend", BACKENDS)
def test_thread_rule_unsafe_models_run_on_one_thread(
    tagger_export, make_graphs, tmp_path: Path, backend: str
) -> None:
    """A model not marked thread_safe (every model exported before the flag) runs on one
    intra-op thread, with a warning, whatever the count asked (0 = all cores included)."""
    model, spec, path = tagger_export
    unsafe = with_spec(path, tmp_path / "unsafe.onnx", thread_safe=False)
    batch = make_graphs([int(n) for n in np.arange(20, 300, 15)], spec.num_features, seed=5)
    order = np.random.default_rng(0).permutation(batch.num_edges)  # targets interleaved
    batch = GraphBatch(batch.x, batch.edge_index[:, order], batch.batch, batch.num_graphs)
    expected = torch_scores(model, batch)
    for threads, asked in ((2, "2"), (0, "all cores")):
        with pytest.warns(RuntimeWarning, match=f"running it on 1 intra-op thread, not {asked}"):
            tagger = Tagger(unsafe, backend=backend, threads=threads)
        for _ in range(3):
            np.testing.assert_allclose(tagger(batch), expected, atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="intra-op threads is -1, expected >= 1"):
        Tagger(path, backend=backend, threads=-1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_thread_rule_safe_models_keep_their_threads(
    tagger_export, make_graphs, tmp_path: Path, backend: str
) -> None:
    model, spec, path = tagger_export
    safe = with_spec(path, tmp_path / "safe.onnx", thread_safe=True)
    batch = make_graphs([5, 40, 12], spec.num_features, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for threads in (0, 2):
            scores = Tagger(safe, backend=backend, threads=threads)(batch)
            np.testing.assert_allclose(scores, torch_scores(model, batch), atol=ATOL, rtol=0)


def test_cpp_session_notes_are_python_warnings(tagger_export, tmp_path: Path) -> None:
    unsafe = with_spec(tagger_export[2], tmp_path / "unsafe.onnx", thread_safe=False)
    options = native.SessionOptions()
    options.intra_op_threads = 3
    with pytest.warns(RuntimeWarning, match="not 3"):
        session = native.Session(str(unsafe), options)
    assert len(session.notes) == 1
    assert native.intra_op_threads(4, {}, "m") == (1, session.notes[0].replace(
        f"model {str(unsafe)!r}", "m").replace("not 3", "not 4"))  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_fixed_degree_layout_is_checked_on_every_backend(
    tagger_export, make_graphs, tmp_path: Path, backend: str
) -> None:
    _, spec, path = tagger_export
    fixed = with_graph(path, tmp_path / "fixed.onnx", fixed_degree=True)
    batch = make_graphs([4, 12], spec.num_features)
    tagger = Tagger(fixed, backend=backend)
    assert tagger(batch).shape == (2, 1)
    shuffled = batch.edge_index[:, ::-1].copy()
    with pytest.raises(ValueError, match="does not have the fixed-degree layout"):
        tagger(GraphBatch(batch.x, shuffled, batch.batch, batch.num_graphs))
    with pytest.raises(ValueError, match="does not have the fixed-degree layout"):
        tagger.score(GraphBatch(batch.x, shuffled, batch.batch, batch.num_graphs), per_call=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_score_validates_the_whole_batch_before_chunking(tagger_export, backend: str) -> None:
    _, spec, path = tagger_export
    tagger = Tagger(path, backend=backend)
    x = np.ones((9, spec.num_features), np.float32)
    edges = np.array([[0, 4, 7], [1, 3, 8]])
    unsorted = GraphBatch(x, edges, np.repeat([0, 2, 1], 3), 3)
    with pytest.raises(ValueError, match="'batch' goes from graph 0 to 2 at node 3"):
        tagger.score(unsorted, per_call=1)
    int32 = GraphBatch(x, edges.astype(np.int32), np.repeat([0, 1, 2], 3), 3)
    with pytest.raises(TypeError, match="'edge_index' must be a numpy int64 array, got int32"):
        tagger.score(int32, per_call=2)
    with pytest.raises(ValueError, match="per_call must be an integer >= 1, got 0"):
        tagger.score(GraphBatch(x, edges, np.repeat([0, 1, 2], 3), 3), per_call=0)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_huge_graph_id_is_refused_in_small_memory(tagger_export) -> None:
    """An npz whose last batch value is 2e8 once grew the process by gigabytes before an
    error: the check is O(N + E) and comes first (address space capped at +512 MB)."""
    result = run_python(
        f"""
        import resource
        import numpy as np
        from e2e_gnn import GraphBatch, Tagger
        tagger = Tagger({str(tagger_export[2])!r})
        batch = np.array([0, 0, 0, 1, 1, 200_000_000])
        graphs = GraphBatch(np.ones((6, 4), np.float32), np.zeros((2, 0), np.int64), batch,
                            200_000_001)
        size = next(int(line.split()[1]) for line in open("/proc/self/status")
                    if line.startswith("VmSize"))
        limit = size * 1024 + 512 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            tagger.score(graphs, per_call=5)
        except (ValueError, MemoryError) as err:
            print(type(err).__name__, err)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "ValueError input 'batch' goes from graph 1 to 200000000 at node 5" in result.stdout


def test_bindings_check_offsets_before_reading_rows(tagger_export) -> None:
    """ptr = [0, 100000, 110] with 110 rows once read far past the array (a segfault): in a
    subprocess, so that a crash fails this test only."""
    result = run_python(
        f"""
        import numpy as np
        from e2e_gnn._native_loader import load_native
        from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
        native = load_native()
        tagger = native.Tagger({str(tagger_export[2])!r})
        x = np.ones((110, 4), np.float32)
        calls = [
            lambda ptr: tagger.tag_nodes(x, ptr),
            lambda ptr: tagger.build_graphs(x, ptr),
            lambda ptr: native.graphs_from_spec(TOY_GRAPH_SPEC.to_json(), x, ptr),
            lambda ptr: native.graphs_from_spec(
                native.GraphSpec.from_json(TOY_GRAPH_SPEC.to_json()), x, ptr
            ),
        ]
        for ptr in ([0, 100000, 110], [0, -5, 110], [0, 50, 120], [5, 110]):
            for call in calls:
                try:
                    call(np.array(ptr, np.int64))
                    print("accepted")
                except ValueError as err:
                    print("ValueError:", err)
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 16
    assert lines[:4] == ["ValueError: graph 1 has -99890 nodes: every graph needs at least one "
                         "node (skip empty jets before batching)"] * 4  # fmt: skip
    assert all(line.startswith("ValueError: graph 0 has -5 nodes") for line in lines[4:8])
    assert all("end at the number of nodes (110), got 0 ... 120" in line for line in lines[8:12])
    assert all("got 5 ... 110" in line for line in lines[12:16])


def test_native_module_imports_directly() -> None:
    result = run_python("import e2e_gnn._native as native; print(native.SPEC_FORMAT)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


@pytest.mark.parametrize("backend", BACKENDS)
def test_exports_give_the_same_numbers_on_any_thread_count(
    tagger_export, make_graphs, backend: str
) -> None:
    """The exported tagger (thread_safe: no scatter reduction) scores a large batch the
    same on 1, 2 and all threads, repeatedly; the racy ScatterND export did not."""
    model, spec, path = tagger_export
    assert spec.thread_safe
    batch = make_graphs([400, 3, 900, 1, 250, 600], spec.num_features, seed=5)
    one = Tagger(path, backend=backend, threads=1)(batch)
    np.testing.assert_allclose(one, torch_scores(model, batch), atol=ATOL, rtol=0)
    for threads in (2, 0):
        tagger = Tagger(path, backend=backend, threads=threads)
        for _ in range(3):
            np.testing.assert_allclose(tagger(batch), one, atol=1e-6, rtol=0)
