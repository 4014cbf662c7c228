"""e2e_gnn's custom operators (domain ai.e2e_gnn, cpp/ops) in Python onnxruntime (through
``e2e_gnn.custom_ops.register``) and in the native runtime (``_native.Session``), against
NumPy references in float64 (np.add.at and explicit loops) at 1e-6 relative."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto

from e2e_gnn import custom_ops
from e2e_gnn._native_loader import load_native

RTOL = 1e-6
ROOT = Path(__file__).resolve().parents[2]


def _custom_op_models() -> ModuleType:
    """cpp/tests/custom_op_models.py: the model builders the C++ tests share."""
    spec = importlib.util.spec_from_file_location(
        "custom_op_models", ROOT / "cpp" / "tests" / "custom_op_models.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


models = _custom_op_models()
segment_reduce_model = models.segment_reduce
edge_aggregate_model = models.edge_aggregate


class Runners:
    """Runs one model in Python onnxruntime and in the native runtime."""

    def __init__(self, model: onnx.ModelProto, directory: Path) -> None:
        self.model = model
        self.path = directory / "model.onnx"
        onnx.save(model, self.path)

    def python(self, feeds: dict[str, np.ndarray], threads: int = 1) -> list[np.ndarray]:
        options = ort.SessionOptions()
        custom_ops.register(options)
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(
            self.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        return session.run(None, feeds)

    def native(self, feeds: dict[str, np.ndarray], threads: int = 1) -> list[np.ndarray]:
        native = load_native()
        options = native.SessionOptions()
        options.verify_checksum = False
        options.intra_op_threads = threads
        outputs = native.Session(str(self.path), options).run(feeds)
        return [outputs[o.name] for o in self.model.graph.output]

    def both(self, feeds: dict[str, np.ndarray], threads: int = 1) -> list[list[np.ndarray]]:
        return [self.python(feeds, threads), self.native(feeds, threads)]


def reduce_reference(values: np.ndarray, index: np.ndarray, rows: int, reduce: str):
    """float64 reduction of ``values`` [E, ...] by ``index`` into ``rows`` rows (0 if empty)."""
    values = values.astype(np.float64)
    out = np.zeros((rows, *values.shape[1:]))
    if reduce in ("sum", "mean"):
        np.add.at(out, index, values)
        if reduce == "mean":
            count = np.bincount(index, minlength=rows).reshape(-1, *[1] * (values.ndim - 1))
            out /= np.maximum(count, 1)
        return out
    for row in range(rows):
        entries = [values[e] for e in range(len(index)) if index[e] == row]
        if entries:
            out[row] = np.max(entries, axis=0) if reduce == "max" else np.min(entries, axis=0)
    return out


def edge_reference(node_i, node_j, source, target, activation, reduce):
    # the message in float32, as ONNX's Add and Relu compute it; its reduction in float64
    messages = node_i[target] + node_j[source]
    if activation == "relu":
        messages = np.maximum(messages, np.float32(0))
    degree = np.bincount(target, minlength=len(node_i)).astype(np.float64)
    return reduce_reference(messages, target, len(node_i), reduce), degree


def random_graph(rng, nodes, sources, edges, features, isolated=0):
    """Edges into the first ``nodes - isolated`` nodes only (the rest receive none)."""
    node_i = rng.normal(size=(nodes, features)).astype(np.float32)
    node_j = rng.normal(size=(sources, features)).astype(np.float32)
    source = rng.integers(0, sources, edges)
    target = rng.integers(0, max(nodes - isolated, 1), edges) if nodes else source[:0]
    return {"node_i": node_i, "node_j": node_j, "source": source, "target": target}


def check_outputs(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    for got, want in zip(actual, expected, strict=True):
        assert got.dtype == np.float32
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)


def test_library_is_found_and_registers():
    path = custom_ops.library_path()
    assert path.name == "libe2e_gnn_ops.so"
    assert path.is_file()
    options = ort.SessionOptions()
    custom_ops.register(options)
    custom_ops.register(options)  # a second registration is harmless


def test_missing_library_says_where_it_looked(monkeypatch, tmp_path):
    import e2e_gnn

    monkeypatch.setattr(e2e_gnn, "__path__", [str(tmp_path)])
    monkeypatch.delenv("E2E_GNN_NATIVE_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match=f"is in none of {tmp_path}: run `make build`"):
        custom_ops.library_path.__wrapped__()


def test_module_imports_without_torch_and_onnxruntime():
    code = (
        "import sys; import e2e_gnn.custom_ops as c; c.library_path(); "
        "assert not {'torch', 'onnxruntime'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_edge_aggregate_random_graphs(tmp_path, activation, reduce):
    rng = np.random.default_rng(5)
    runners = Runners(edge_aggregate_model(activation, reduce), tmp_path)
    for nodes, sources, edges, features, isolated in [(7, 5, 30, 3, 2), (60, 80, 500, 16, 9)]:
        graph = random_graph(rng, nodes, sources, edges, features, isolated)
        expected = edge_reference(**graph, activation=activation, reduce=reduce)
        assert (expected[1][nodes - isolated :] == 0).all()
        # the same edges sorted by target (as kNN builds them): the kernels' other grouping path
        order = np.argsort(graph["target"], kind="stable")
        by_target = {**graph, "source": graph["source"][order], "target": graph["target"][order]}
        for outputs in [*runners.both(graph), *runners.both(by_target)]:
            check_outputs(outputs, expected)
            assert (outputs[0][nodes - isolated :] == 0).all()


def test_edge_aggregate_duplicate_edges_and_negative_max(tmp_path):
    node_i = -np.arange(1, 13, dtype=np.float32).reshape(4, 3)
    node_j = -np.arange(1, 7, dtype=np.float32).reshape(2, 3) * 10
    # edge (1 -> 0) three times, (0 -> 2) twice; nodes 1 and 3 receive nothing
    source = np.array([1, 0, 1, 0, 1])
    target = np.array([0, 2, 0, 2, 0])
    graph = {"node_i": node_i, "node_j": node_j, "source": source, "target": target}
    for reduce in ["sum", "mean", "max"]:
        runners = Runners(edge_aggregate_model("identity", reduce), tmp_path)
        expected = edge_reference(**graph, activation="identity", reduce=reduce)
        assert expected[1].tolist() == [3, 0, 2, 0]
        for outputs in runners.both(graph):
            check_outputs(outputs, expected)
    # max of negative messages stays negative; rows without edges are 0, not -inf
    max_out = Runners(edge_aggregate_model("identity", "max"), tmp_path).python(graph)[0]
    assert (max_out[[0, 2]] < 0).all()
    assert (max_out[[1, 3]] == 0).all()


@pytest.mark.parametrize(("nodes", "sources"), [(5, 4), (0, 0), (3, 0)])
def test_edge_aggregate_without_edges(tmp_path, nodes, sources):
    runners = Runners(edge_aggregate_model("relu", "mean"), tmp_path)
    rng = np.random.default_rng(3)
    graph = random_graph(rng, nodes, sources, 0, 4)
    for out, degree in runners.both(graph):
        assert out.shape == (nodes, 4)
        assert degree.shape == (nodes,)
        assert not out.any()
        assert not degree.any()


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
def test_segment_reduce(tmp_path, reduce):
    rng = np.random.default_rng(7)
    runners = Runners(segment_reduce_model(reduce), tmp_path)
    cases = [(40, 9, 5, False), (300, 50, 8, False), (300, 80, 8, True), (0, 4, 3, False)]
    for entries, rows, features, ordered in [*cases, (0, 0, 3, False)]:
        # rows 0 and rows - 1 receive nothing, others repeat (duplicate entries); an index in
        # increasing order (rows without entries between) takes the kernels' other grouping path
        index = rng.integers(1, max(rows - 1, 2), entries) if rows > 2 else np.zeros(0, int)
        if ordered:
            index = np.sort(index)
            assert len(np.unique(index)) < rows - 2
        src = rng.normal(size=(entries, features)).astype(np.float32) - 0.5
        feeds = {"src": src, "index": index, "rows": np.array(rows)}
        expected = [reduce_reference(src, index, rows, reduce)]
        for outputs in runners.both(feeds):
            check_outputs(outputs, expected)
            if rows > 2:
                assert not outputs[0][[0, rows - 1]].any()


def test_segment_reduce_feature_shapes(tmp_path):
    rng = np.random.default_rng(8)
    index = np.array([2, 0, 2, 2])
    for dims, src_shape in [(0, (4,)), (2, (4, 2, 3))]:
        runners = Runners(
            segment_reduce_model("mean", feature_dims=dims, rows_shape=(1,)), tmp_path
        )
        src = rng.normal(size=src_shape).astype(np.float32)
        feeds = {"src": src, "index": index, "rows": np.array([3])}
        for outputs in runners.both(feeds):
            check_outputs(outputs, [reduce_reference(src, index, 3, "mean")])


def test_results_do_not_depend_on_threads(tmp_path):
    """The README event's size: enough rows for the kernels to split them among threads."""
    rng = np.random.default_rng(11)
    graph = random_graph(rng, 1111, 1111, 17776, 64)
    for reduce in ["sum", "mean", "max"]:
        runners = Runners(edge_aggregate_model("relu", reduce), tmp_path)
        results = [*runners.both(graph, threads=1), *runners.both(graph, threads=4)]
        for outputs in results[1:]:
            for got, first in zip(outputs, results[0], strict=True):
                assert np.array_equal(got, first)
        check_outputs(results[0], edge_reference(**graph, activation="relu", reduce=reduce))
    runners = Runners(segment_reduce_model("sum"), tmp_path)
    feeds = {
        "src": graph["node_j"][graph["source"]],
        "index": graph["target"],
        "rows": np.array(1111),
    }
    one, four = runners.python(feeds, threads=1), runners.python(feeds, threads=4)
    assert np.array_equal(one[0], four[0])


def error_of(run, feeds) -> str:
    """The message of the error that ``run(feeds)`` raises (creating or running the session)."""
    try:
        run(feeds)
    except Exception as err:  # onnxruntime raises its own, unexported exception types
        return str(err)
    return "no error"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"source": np.array([0, 1, 4])},
            "ai.e2e_gnn.EdgeAggregate: source[2] = 4 is out of range [0, 4) (node_j has 4 rows)",
        ),
        (
            {"target": np.array([0, -1, 1])},
            "ai.e2e_gnn.EdgeAggregate: target[1] = -1 is out of range [0, 3) (node_i has 3 rows)",
        ),
        (
            {"target": np.array([0, 1])},
            "ai.e2e_gnn.EdgeAggregate: input 'target' has shape [2], expected [E] = [3]",
        ),
        (
            {"node_j": np.zeros((4, 3), np.float32)},
            "ai.e2e_gnn.EdgeAggregate: input 'node_j' has shape [4, 3], expected [M, F] with F = 2",
        ),
    ],
)
def test_edge_aggregate_errors(tmp_path, change, message):
    feeds = {
        "node_i": np.ones((3, 2), np.float32),
        "node_j": np.ones((4, 2), np.float32),
        "source": np.array([0, 1, 3]),
        "target": np.array([0, 2, 1]),
    }
    runners = Runners(edge_aggregate_model("relu", "sum"), tmp_path)
    for run in (runners.python, runners.native):
        assert message in error_of(run, {**feeds, **change})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"index": np.array([0, 5])}, "index[1] = 5 is out of range [0, 5) (rows = 5)"),
        ({"index": np.array([0])}, "input 'index' has shape [1], expected [E] = [2]"),
        ({"rows": np.array(-1)}, "input 'rows' is -1, expected >= 0"),
    ],
)
def test_segment_reduce_errors(tmp_path, change, message):
    feeds = {"src": np.ones((2, 3), np.float32), "index": np.array([0, 4]), "rows": np.array(5)}
    runners = Runners(segment_reduce_model("max"), tmp_path)
    for run in (runners.python, runners.native):
        assert "ai.e2e_gnn.SegmentReduce: " + message in error_of(run, {**feeds, **change})


def test_rows_of_wrong_shape_is_refused(tmp_path):
    runners = Runners(segment_reduce_model("sum", rows_shape=("R",)), tmp_path)
    feeds = {"src": np.ones((1, 1), np.float32), "index": np.array([0]), "rows": np.array([2, 2])}
    assert "input 'rows' has shape [2], expected a scalar or [1]" in error_of(runners.python, feeds)


def test_wrong_dtypes_and_attributes_are_refused(tmp_path):
    graph = random_graph(np.random.default_rng(0), 3, 3, 4, 2)
    runners = Runners(edge_aggregate_model("relu", "sum"), tmp_path)
    int32_feeds = {**graph, "source": graph["source"].astype(np.int32)}
    assert "source" in error_of(runners.native, int32_feeds)
    assert "expected: (tensor(int64))" in error_of(runners.python, int32_feeds)
    int32_model = Runners(edge_aggregate_model("relu", "sum", TensorProto.INT32), tmp_path)
    message = "input parameter (source) of operator (EdgeAggregate) in node () is invalid"
    assert message in error_of(int32_model.python, graph)
    assert message in error_of(int32_model.native, graph)
    for activation, reduce, message in [
        ("gelu", "sum", "attribute activation = 'gelu' is not one of relu, identity"),
        ("relu", "min", "attribute reduce = 'min' is not one of sum, mean, max"),
    ]:
        bad = Runners(edge_aggregate_model(activation, reduce), tmp_path)
        assert f"ai.e2e_gnn.EdgeAggregate: {message}" in error_of(bad.python, graph)
        assert f"ai.e2e_gnn.EdgeAggregate: {message}" in error_of(bad.native, graph)


gather_segment_reduce_model = models.gather_segment_reduce
WEIGHTS = [None, "input", "empty"]  # 4 inputs; weight the 5th; a 5th input named ""


def gather_feeds(values, source, index, rows, weight, weight_mode):
    feeds = {"values": values, "source": source, "index": index, "rows": np.array(rows)}
    return {**feeds, "weight": weight} if weight_mode == "input" else feeds


def gather_reference(values, source, index, rows, weight, weight_mode, reduce):
    # the message in float32, as ONNX's Gather and Mul compute it; its reduction in float64
    messages = values[source]
    if weight_mode == "input":
        messages = messages * weight.reshape(-1, *[1] * (values.ndim - 1))
    return reduce_reference(messages, index, rows, reduce)


def random_gather(rng, sources, edges, rows, feature_shape, isolated=0):
    """Entries into rows [isolated, rows) only (rows below receive none); random pairs
    repeat (duplicate edges)."""
    values = (rng.normal(size=(sources, *feature_shape)) - 0.3).astype(np.float32)
    source = rng.integers(0, sources, edges) if sources else np.zeros(0, np.int64)
    index = rng.integers(isolated, rows, edges) if rows > isolated else np.zeros(0, np.int64)
    weight = rng.normal(size=len(source)).astype(np.float32)
    return values, source, index, rows, weight


@pytest.mark.parametrize("weight_mode", WEIGHTS)
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
def test_gather_segment_reduce(tmp_path, reduce, weight_mode):
    rng = np.random.default_rng(13)
    runners = Runners(gather_segment_reduce_model(reduce, weight_mode), tmp_path)
    cases = [(6, 40, 9, 2), (80, 600, 50, 7), (5, 0, 4, 0), (0, 0, 3, 0), (3, 0, 0, 0)]
    for sources, edges, rows, isolated in cases:
        values, source, index, rows, weight = random_gather(
            rng, sources, edges, rows, (8,), isolated
        )
        expected = gather_reference(values, source, index, rows, weight, weight_mode, reduce)
        # the same entries sorted by index (as kNN builds them): the other grouping path
        order = np.argsort(index, kind="stable")
        for s, i, w in [(source, index, weight), (source[order], index[order], weight[order])]:
            feeds = gather_feeds(values, s, i, rows, w, weight_mode)
            for outputs in runners.both(feeds):
                check_outputs(outputs, [expected])
                assert not outputs[0][:isolated].any()


def test_gather_segment_reduce_duplicates_and_feature_shapes(tmp_path):
    values = -np.arange(1, 13, dtype=np.float32).reshape(4, 3)
    # (source 1 -> row 0) three times with different weights, (3 -> 2) twice; rows 1, 3 empty
    source, index = np.array([1, 3, 1, 3, 1]), np.array([0, 2, 0, 2, 0])
    weight = np.array([1.0, 0.5, -2.0, 0.5, 3.0], np.float32)
    for reduce in ["sum", "mean", "max", "min"]:
        for weight_mode in WEIGHTS:
            runners = Runners(gather_segment_reduce_model(reduce, weight_mode), tmp_path)
            feeds = gather_feeds(values, source, index, 4, weight, weight_mode)
            expected = gather_reference(values, source, index, 4, weight, weight_mode, reduce)
            for outputs in runners.both(feeds):
                check_outputs(outputs, [expected])
                assert not outputs[0][[1, 3]].any()
    # max of the unweighted negative rows stays negative, not 0
    max_out = Runners(gather_segment_reduce_model("max"), tmp_path).python(
        gather_feeds(values, source, index, 4, weight, None)
    )[0]
    assert (max_out[[0, 2]] < 0).all()
    rng = np.random.default_rng(14)
    for dims, feature_shape in [(0, ()), (2, (2, 3))]:
        values, source, index, rows, weight = random_gather(rng, 6, 30, 5, feature_shape, 1)
        for weight_mode in WEIGHTS:
            runners = Runners(
                gather_segment_reduce_model("mean", weight_mode, feature_dims=dims), tmp_path
            )
            feeds = gather_feeds(values, source, index, rows, weight, weight_mode)
            expected = gather_reference(values, source, index, rows, weight, weight_mode, "mean")
            for outputs in runners.both(feeds):
                check_outputs(outputs, [expected])


@pytest.mark.parametrize("weight_mode", [None, "input"])
def test_gather_segment_reduce_does_not_depend_on_threads(tmp_path, weight_mode):
    """The README event's size: enough rows for the kernel to split them among threads."""
    rng = np.random.default_rng(15)
    values, source, index, rows, weight = random_gather(rng, 1111, 17776, 1111, (64,), 11)
    feeds = gather_feeds(values, source, index, rows, weight, weight_mode)
    for reduce in ["sum", "max"]:
        runners = Runners(gather_segment_reduce_model(reduce, weight_mode), tmp_path)
        results = [*runners.both(feeds, threads=1), *runners.both(feeds, threads=4)]
        for outputs in results[1:]:
            assert np.array_equal(outputs[0], results[0][0])
        expected = gather_reference(values, source, index, rows, weight, weight_mode, reduce)
        check_outputs(results[0], [expected])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"source": np.array([0, 4, 1])},
            "source[1] = 4 is out of range [0, 4) (values has 4 rows)",
        ),
        ({"source": np.array([0, 1, -1])}, "source[2] = -1 is out of range [0, 4)"),
        ({"index": np.array([0, 5, 1])}, "index[1] = 5 is out of range [0, 5) (rows = 5)"),
        ({"index": np.array([-2, 0, 1])}, "index[0] = -2 is out of range [0, 5) (rows = 5)"),
        (
            {"index": np.array([0, 1])},
            "input 'index' has shape [2], expected [E] = [3] (E from input 'source')",
        ),
        (
            {"weight": np.ones(2, np.float32)},
            "input 'weight' has shape [2], expected [E] = [3] (E from input 'source')",
        ),
        (
            {"weight": np.ones(4, np.float32)},
            "input 'weight' has shape [4], expected [E] = [3] (E from input 'source')",
        ),
        ({"rows": np.array(-1)}, "input 'rows' is -1, expected >= 0"),
    ],
)
def test_gather_segment_reduce_errors(tmp_path, change, message):
    feeds = {
        "values": np.ones((4, 2), np.float32),
        "source": np.array([0, 3, 1]),
        "index": np.array([4, 0, 4]),
        "rows": np.array(5),
        "weight": np.ones(3, np.float32),
    }
    runners = Runners(gather_segment_reduce_model("mean", "input"), tmp_path)
    for run in (runners.python, runners.native):
        assert "ai.e2e_gnn.GatherSegmentReduce: " + message in error_of(run, {**feeds, **change})


def test_gather_segment_reduce_refuses_bad_attribute_and_scalar_values(tmp_path):
    feeds = {"values": np.ones(3, np.float32), "source": np.array([0]), "index": np.array([0])}
    feeds["rows"] = np.array(1)
    bad = Runners(gather_segment_reduce_model("median"), tmp_path)
    message = "ai.e2e_gnn.GatherSegmentReduce: attribute reduce = 'median' is not one of sum, "
    for run in (bad.python, bad.native):
        assert message + "mean, max, min" in error_of(run, feeds)
    scalar = Runners(gather_segment_reduce_model("sum", feature_dims=None), tmp_path)
    message = "input 'values' has shape [], expected [M, *F] (rank >= 1)"
    for run in (scalar.python, scalar.native):
        assert message in error_of(run, {**feeds, "values": np.array(1.0, np.float32)})


def test_gather_segment_reduce_onnx_schema():
    """The schema e2e_gnn.nn._fused_ops registers: 4 inputs, or 5 with an optional weight."""
    from onnx import checker

    from e2e_gnn.nn._fused_ops import _register_schemas

    _register_schemas()
    for weight_mode in WEIGHTS:
        model = gather_segment_reduce_model("sum", weight_mode)
        out = onnx.helper.make_tensor_value_info("out", TensorProto.FLOAT, ["rows", "F"])
        model.graph.output[0].CopyFrom(out)  # the checker wants a shape
        checker.check_model(model, full_check=True)
    model.graph.node[0].input.pop()
    model.graph.node[0].input.pop()
    with pytest.raises(checker.ValidationError, match=r"has input size 3 not in range \[min=4"):
        checker.check_model(model, full_check=True)
