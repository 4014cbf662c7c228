"""e2e_gnn's custom operators (domain ai.e2e_gnn, cpp/ops) in Python onnxruntime (through
``e2e_gnn.custom_ops.register``) and in the native runtime (``_native.Session``), against
NumPy references in float64 (np.add.at and explicit loops), each with the bound of the error
that float32 arithmetic may add: exact for max, min and counts; for a sum of n terms,
(n + 1) * 2**-24 * sum |terms| (float32 summation in any order, then rounding)."""

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

U = 2.0**-24  # float32's unit roundoff
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


Reference = tuple[np.ndarray, np.ndarray]  # float64 values and the bound of the error allowed


def reduce_reference(values: np.ndarray, index: np.ndarray, rows: int, reduce: str) -> Reference:
    """float64 reduction of ``values`` [E, ...] by ``index`` into ``rows`` rows (0 if empty)."""
    values = values.astype(np.float64)
    out = np.zeros((rows, *values.shape[1:]))
    if reduce in ("sum", "mean"):
        np.add.at(out, index, values)
        magnitude = np.zeros_like(out)
        np.add.at(magnitude, index, np.abs(values))
        count = np.bincount(index, minlength=rows).reshape(-1, *[1] * (values.ndim - 1))
        bound = (count + 1) * U * magnitude
        if reduce == "mean":  # the division's rounding: U * |mean| <= U * magnitude / count
            out /= np.maximum(count, 1)
            bound = (bound + U * magnitude) / np.maximum(count, 1)
        return out, bound
    for row in range(rows):
        entries = [values[e] for e in range(len(index)) if index[e] == row]
        if entries:
            out[row] = np.max(entries, axis=0) if reduce == "max" else np.min(entries, axis=0)
    return out, np.zeros_like(out)


def edge_reference(node_i, node_j, source, target, activation, reduce) -> list[Reference]:
    # the message in float32, as ONNX's Add and Relu compute it; its reduction in float64
    messages = node_i[target] + node_j[source]
    if activation == "relu":
        messages = np.maximum(messages, np.float32(0))
    degree = np.bincount(target, minlength=len(node_i)).astype(np.float64)
    out = reduce_reference(messages, target, len(node_i), reduce)
    return [out, (degree, np.zeros_like(degree))]


def random_graph(rng, nodes, sources, edges, features, isolated=0):
    """Edges into the first ``nodes - isolated`` nodes only (the rest receive none)."""
    node_i = rng.normal(size=(nodes, features)).astype(np.float32)
    node_j = rng.normal(size=(sources, features)).astype(np.float32)
    source = rng.integers(0, sources, edges)
    target = rng.integers(0, max(nodes - isolated, 1), edges) if nodes else source[:0]
    return {"node_i": node_i, "node_j": node_j, "source": source, "target": target}


def check_outputs(actual: list[np.ndarray], expected: list[Reference]) -> None:
    """Each output within its reference's bound (NaN where the reference is NaN)."""
    for got, (want, bound) in zip(actual, expected, strict=True):
        assert got.dtype == np.float32
        assert got.shape == want.shape
        with np.errstate(invalid="ignore"):  # NaN - NaN
            wrong = ~((np.abs(got - want) <= bound) | (np.isnan(got) & np.isnan(want)))
        if wrong.any():
            at = tuple(np.argwhere(wrong)[0])
            message = f"{wrong.sum()} of {wrong.size} wrong, first at {at}: {got[at]} vs "
            raise AssertionError(message + f"{want[at]} (bound {bound[at]:.3g})")


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
        assert (expected[1][0][nodes - isolated :] == 0).all()
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
        assert expected[1][0].tolist() == [3, 0, 2, 0]
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


def same_on_threads(runners: Runners, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The outputs in both runtimes on 1 and 4 intra-op threads, checked bitwise equal."""
    results = [*runners.both(feeds, threads=1), *runners.both(feeds, threads=4)]
    for outputs in results[1:]:
        for got, first in zip(outputs, results[0], strict=True):
            assert got.shape == first.shape
            assert got.tobytes() == first.tobytes()
    return results[0]


def test_results_do_not_depend_on_threads(tmp_path):
    """The README event's size: enough rows for the kernels to split them among threads."""
    rng = np.random.default_rng(11)
    graph = random_graph(rng, 1111, 1111, 17776, 64)
    for reduce in ["sum", "mean", "max"]:
        runners = Runners(edge_aggregate_model("relu", reduce), tmp_path)
        outputs = same_on_threads(runners, graph)
        check_outputs(outputs, edge_reference(**graph, activation="relu", reduce=reduce))
    runners = Runners(segment_reduce_model("sum"), tmp_path)
    feeds = {
        "src": graph["node_j"][graph["source"]],
        "index": graph["target"],
        "rows": np.array(1111),
    }
    expected = reduce_reference(feeds["src"], feeds["index"], 1111, "sum")
    check_outputs(same_on_threads(runners, feeds), [expected])


def error_of(run, feeds) -> str:
    """The message of the error that ``run(feeds)`` raises (creating or running the session)."""
    try:
        run(feeds)
    except Exception as err:  # onnxruntime raises its own, unexported exception types
        return str(err)
    return "no error"


def declared_as(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> onnx.ModelProto:
    """``model`` with inputs of the feeds' ranks, every dimension symbolic: its kernel, not the
    runtime, checks the shapes."""
    for value in model.graph.input:
        dims = [f"{value.name}{d}" for d in range(feeds[value.name].ndim)]
        elem_type = value.type.tensor_type.elem_type
        value.CopyFrom(onnx.helper.make_tensor_value_info(value.name, elem_type, dims))
    return model


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


def gather_reference(values, source, index, rows, weight, weight_mode, reduce) -> Reference:
    # the message in float32, as ONNX's Gather and Mul (weight [E, *W] broadcast over the
    # trailing feature dimensions) compute it; its reduction in float64
    messages = values[source]
    if weight_mode == "input":
        messages = messages * weight.reshape(*weight.shape, *[1] * (values.ndim - weight.ndim))
    return reduce_reference(messages, index, rows, reduce)


def random_gather(rng, sources, edges, rows, feature_shape, isolated=0, weight_dims=0):
    """Entries into rows [isolated, rows) only (rows below receive none); random pairs
    repeat (duplicate edges); weight [E, *feature_shape[:weight_dims]]."""
    values = (rng.normal(size=(sources, *feature_shape)) - 0.3).astype(np.float32)
    source = rng.integers(0, sources, edges) if sources else np.zeros(0, np.int64)
    index = rng.integers(isolated, rows, edges) if rows > isolated else np.zeros(0, np.int64)
    weight = rng.normal(size=(len(source), *feature_shape[:weight_dims])).astype(np.float32)
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
        expected = gather_reference(values, source, index, rows, weight, weight_mode, reduce)
        check_outputs(same_on_threads(runners, feeds), [expected])


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
            "input 'weight' has shape [2], expected [E] or [E, *W] with E = 3 (from input "
            "'source') and W leading dimensions of the features of input 'values' of shape "
            "[4, 2]",
        ),
        (
            {"weight": np.ones(4, np.float32)},
            "input 'weight' has shape [4], expected [E] or [E, *W] with E = 3",
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


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
def test_gather_segment_reduce_weight_per_head(tmp_path, reduce):
    """weight [E, *W], W the leading feature dimensions of values: one factor per head."""
    rng = np.random.default_rng(16)
    # H = 4, H = 1, weight over all features, rank 4 with weight [E, H1] and [E, H1, H2],
    # and heads crossing the kernel's 256-feature chunks (5 x 70)
    shapes = [((4, 5), 1), ((1, 8), 1), ((3, 4), 2), ((2, 3, 4), 1), ((2, 3, 4), 2)]
    for feature_shape, weight_dims in [*shapes, ((5, 70), 1)]:
        model = gather_segment_reduce_model(reduce, "input", len(feature_shape), weight_dims)
        runners = Runners(model, tmp_path)
        for sources, edges, rows, isolated in [(6, 40, 9, 2), (40, 300, 30, 3), (5, 0, 4, 0)]:
            values, source, index, rows, weight = random_gather(
                rng, sources, edges, rows, feature_shape, isolated, weight_dims
            )
            assert weight.shape == (edges, *feature_shape[:weight_dims])
            assert len(set(zip(source, index, strict=True))) < max(edges, 1)  # duplicates
            expected = gather_reference(values, source, index, rows, weight, "input", reduce)
            order = np.argsort(index, kind="stable")  # the grouping path of sorted indices
            for s, i, w in [(source, index, weight), (source[order], index[order], weight[order])]:
                feeds = gather_feeds(values, s, i, rows, w, "input")
                for outputs in runners.both(feeds):
                    check_outputs(outputs, [expected])
                    assert not outputs[0][:isolated].any()


@pytest.mark.parametrize(
    "weight_shape",
    [(3, 3), (3, 3, 2), (3, 2, 3, 1), (2, 2), (3, 1)],
    ids=["W-mismatch", "W-permuted", "rank-too-high", "E-mismatch", "W=1"],
)
def test_gather_segment_reduce_refuses_a_misshaped_weight(tmp_path, weight_shape):
    feeds = {
        "values": np.ones((4, 2, 3), np.float32),
        "source": np.array([0, 3, 1]),
        "index": np.array([4, 0, 4]),
        "rows": np.array(5),
        "weight": np.ones(weight_shape, np.float32),
    }
    model = gather_segment_reduce_model("sum", "input", feature_dims=2)
    runners = Runners(declared_as(model, feeds), tmp_path)
    shape = "[" + ", ".join(map(str, weight_shape)) + "]"
    message = (
        f"ai.e2e_gnn.GatherSegmentReduce: input 'weight' has shape {shape}, expected [E] or "
        "[E, *W] with E = 3 (from input 'source') and W leading dimensions of the features of "
        "input 'values' of shape [4, 2, 3]"
    )
    for run in (runners.python, runners.native):
        error = error_of(run, feeds)
        assert message in error
        assert "\n" not in error


@pytest.mark.parametrize("activation", ["identity", "relu"])
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
def test_gather_segment_reduce_addend(tmp_path, reduce, activation):
    """act(values[source] + addend): GINEConv's (x_j + edge_attr).relu()."""
    rng = np.random.default_rng(17)
    runners = Runners(gather_segment_reduce_model(reduce, activation=activation), tmp_path)
    for sources, edges, rows, isolated in [(6, 40, 9, 2), (80, 600, 50, 7), (5, 0, 4, 0)]:
        values, source, index, rows, _ = random_gather(rng, sources, edges, rows, (8,), isolated)
        addend = rng.normal(size=(edges, 8)).astype(np.float32)
        messages = values[source] + addend  # in float32, as ONNX's Add
        if activation == "relu":
            messages = np.maximum(messages, np.float32(0))
        expected = reduce_reference(messages, index, rows, reduce)
        feeds = {**gather_feeds(values, source, index, rows, None, None), "addend": addend}
        for outputs in runners.both(feeds):
            check_outputs(outputs, [expected])
            assert not outputs[0][:isolated].any()
    for outputs in runners.both(feeds, threads=4):
        check_outputs(outputs, [expected])


@pytest.mark.parametrize(
    ("weight", "activation", "change", "message"),
    [
        (
            None,
            "relu",
            {"addend": np.ones((3, 3), np.float32)},
            "input 'addend' has shape [3, 3], expected [E, *F] = [3, 2] (E from input "
            "'source', F from input 'values')",
        ),
        ("input", "identity", {}, "inputs 'weight' and 'addend' cannot be given together"),
        ("empty", "bogus", {}, "attribute activation = 'bogus' is not one of relu, identity"),
    ],
)
def test_gather_segment_reduce_addend_errors(tmp_path, weight, activation, change, message):
    feeds = {
        "values": np.ones((4, 2), np.float32),
        "source": np.array([0, 3, 1]),
        "index": np.array([4, 0, 4]),
        "rows": np.array(5),
        "addend": np.ones((3, 2), np.float32),
    }
    if weight == "input":
        feeds["weight"] = np.ones(3, np.float32)
    model = gather_segment_reduce_model("sum", weight, activation=activation)
    runners = Runners(declared_as(model, {**feeds, **change}), tmp_path)
    for run in (runners.python, runners.native):
        assert "ai.e2e_gnn.GatherSegmentReduce: " + message in error_of(run, {**feeds, **change})


def test_gather_segment_reduce_relu_needs_an_addend(tmp_path):
    model = gather_segment_reduce_model("sum")
    model.graph.node[0].attribute.append(onnx.helper.make_attribute("activation", "relu"))
    feeds = {
        "values": np.ones((4, 2), np.float32),
        "source": np.array([0, 3, 1]),
        "index": np.array([4, 0, 4]),
        "rows": np.array(5),
    }
    runners = Runners(model, tmp_path)
    message = "attribute activation = 'relu' needs input 'addend'"
    for run in (runners.python, runners.native):
        assert message in error_of(run, feeds)


segment_softmax_model = models.segment_softmax


def softmax_reference(src: np.ndarray, index: np.ndarray, rows: int) -> Reference:
    """torch_geometric's softmax(src, index, num_nodes=rows) of ``src`` [E, *F]: float64
    after the float32 difference to the row's max (NaN where the max is -inf). Bound: the
    float32 sum of the row's n positive terms, its exp and division, (n + 16) * 2**-24
    relative, and 2**-126 absolute (exponentials below float32's smallest normal may be 0)."""
    maxima = np.full((rows, *src.shape[1:]), -np.inf, np.float32)
    np.maximum.at(maxima, index, src)
    with np.errstate(invalid="ignore"):  # -inf - -inf
        shifted = np.exp((src - maxima[index]).astype(np.float64))
    sums = np.zeros((rows, *src.shape[1:]))
    np.add.at(sums, index, shifted)
    out = shifted / (sums[index] + 1e-16)
    count = np.bincount(index, minlength=rows)[index].reshape(-1, *[1] * (src.ndim - 1))
    return out, (count + 16) * U * np.abs(out) + 2.0**-126


@pytest.mark.parametrize("feature_shape", [(), (4,), (2, 3), (300,)])  # 300: > 256-wide chunks
def test_segment_softmax(tmp_path, feature_shape):
    rng = np.random.default_rng(17)
    runners = Runners(segment_softmax_model(len(feature_shape)), tmp_path)
    for entries, rows, isolated in [(40, 9, 2), (400, 60, 5), (0, 4, 0), (0, 0, 0)]:
        # rows [0, isolated) have no entries: they have no output either
        index = rng.integers(isolated, rows, entries) if entries else np.zeros(0, np.int64)
        src = (rng.normal(size=(entries, *feature_shape)) * 3).astype(np.float32)
        expected, bound = softmax_reference(src, index, rows)
        sums = np.zeros((rows, *feature_shape))
        np.add.at(sums, index, expected)
        assert np.allclose(sums[np.unique(index)], 1)
        order = np.argsort(index, kind="stable")  # the grouping path of sorted indices
        by_index = (expected[order], bound[order])
        for s, i, want in [(src, index, (expected, bound)), (src[order], index[order], by_index)]:
            for outputs in runners.both({"src": s, "index": i, "rows": np.array(rows)}):
                check_outputs(outputs, [want])


def test_segment_softmax_special_values(tmp_path):
    inf = np.float32(np.inf)
    # row 0: one entry; rows 1, 3, 6: none; row 2: an -inf entry; row 4: 1e4 (no overflow);
    # row 5: only -inf (NaN, as torch_geometric's softmax: -inf - -inf)
    index = np.array([0, 2, 4, 2, 2, 5, 4, 4])
    src = np.array(
        [[3, -1e4], [1, 2], [1e4, 1e4], [-inf, 2], [0, -inf], [-inf, -inf], [1e4 - 1, -1e4],
         [-1e4, 1e4]],
        np.float32,
    )  # fmt: skip
    expected = softmax_reference(src, index, 7)
    e = np.exp(-1.0)
    np.testing.assert_allclose(expected[0][[2, 6, 7], 0], [1 / (1 + e), e / (1 + e), 0])
    runners = Runners(segment_softmax_model(), tmp_path)
    for outputs in runners.both({"src": src, "index": index, "rows": np.array(7)}):
        check_outputs(outputs, [expected])
        (out,) = outputs
        assert (out[0] == 1).all()
        assert out[3, 0] == 0
        assert out[4, 1] == 0
        assert np.isnan(out[5]).all()
        assert np.isfinite(out[[1, 2, 3, 4, 6, 7]]).all()
        assert (out[[2, 7], 1] == 0.5).all()
    # one entry in each row: all 1
    src = np.random.default_rng(22).normal(size=(5, 4)).astype(np.float32) * 100
    feeds = {"src": src, "index": np.array([3, 0, 4, 1, 2]), "rows": np.array(5)}
    for outputs in runners.both(feeds):
        assert (outputs[0] == 1).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"index": np.array([0, 5])}, "index[1] = 5 is out of range [0, 5) (rows = 5)"),
        ({"index": np.array([-1, 0])}, "index[0] = -1 is out of range [0, 5) (rows = 5)"),
        (
            {"index": np.array([0])},
            "input 'index' has shape [1], expected [E] = [2] (E from input 'src' of shape [2, 3])",
        ),
        ({"rows": np.array(-1)}, "input 'rows' is -1, expected >= 0"),
        ({"rows": np.array([5, 5])}, "input 'rows' has shape [2], expected a scalar or [1]"),
        ({"src": np.array(1.0, np.float32)}, "input 'src' has shape [], expected [E, *F]"),
    ],
)
def test_segment_softmax_errors(tmp_path, change, message):
    feeds = {"src": np.ones((2, 3), np.float32), "index": np.array([0, 4]), "rows": np.array(5)}
    feeds.update(change)
    runners = Runners(declared_as(segment_softmax_model(), feeds), tmp_path)
    for run in (runners.python, runners.native):
        assert "ai.e2e_gnn.SegmentSoftmax: " + message in error_of(run, feeds)


edge_score_model = models.edge_score


def edge_score_reference(
    node_i, node_j, source, target, score, weight=None, slope=0.2
) -> Reference:
    """The scores [E, H]: float64 sums over the C channels of the terms in float32 (as
    ONNX's Mul, Add and LeakyRelu compute them)."""
    a, b = node_i[target], node_j[source]
    if score == "dot":
        terms = a * b
    else:
        x = a + b
        terms = weight * np.where(x < 0, x * np.float32(slope), x)
    terms = terms.astype(np.float64)
    bound = (node_i.shape[-1] + 1) * U * np.abs(terms).sum(axis=-1)
    return terms.sum(axis=-1), bound


def random_scores(rng, nodes, sources, edges, heads, channels):
    feeds = {
        "node_i": rng.normal(size=(nodes, heads, channels)).astype(np.float32),
        "node_j": rng.normal(size=(sources, heads, channels)).astype(np.float32),
        "source": rng.integers(0, sources, edges) if sources else np.zeros(0, np.int64),
        "target": rng.integers(0, nodes, edges) if nodes else np.zeros(0, np.int64),
    }
    return feeds, rng.normal(size=(heads, channels)).astype(np.float32)


@pytest.mark.parametrize("channels", [13, 29, 64])
@pytest.mark.parametrize(
    ("score", "slope"), [("dot", None), ("leaky_relu", None), ("leaky_relu", 0.01)]
)
def test_edge_score(tmp_path, score, slope, channels):
    rng = np.random.default_rng(18)
    runners = Runners(edge_score_model(score, score == "leaky_relu", slope), tmp_path)
    cases = [(7, 5, 30, 3), (60, 80, 500, 2), (9, 9, 40, 1), (4, 3, 0, 2), (0, 0, 0, 2)]
    for nodes, sources, edges, heads in cases:
        feeds, weight = random_scores(rng, nodes, sources, edges, heads, channels)
        if score == "leaky_relu":
            feeds["weight"] = weight
        reference_slope = 0.2 if slope is None else slope
        expected = edge_score_reference(**feeds, score=score, slope=reference_slope)
        assert expected[0].shape == (edges, heads)
        # the same edges sorted by target (as kNN builds them): the other grouping path
        order = np.argsort(feeds["target"], kind="stable")
        by_target = {**feeds, "source": feeds["source"][order], "target": feeds["target"][order]}
        for f, want in [(feeds, expected), (by_target, (expected[0][order], expected[1][order]))]:
            for outputs in runners.both(f):
                check_outputs(outputs, [want])
        if score == "leaky_relu" and edges:  # the slope matters: another is far from the result
            other, _ = edge_score_reference(**feeds, score=score, slope=reference_slope + 0.1)
            assert (np.abs(other - expected[0]) > 100 * expected[1]).mean() > 0.9


@pytest.mark.parametrize(
    ("model", "change", "message"),
    [
        (
            ("leaky_relu", False),
            {},
            "score = 'leaky_relu' needs input 'weight' of shape [H, C] = [2, 3], got none",
        ),
        (
            ("leaky_relu", True),
            {"weight": np.ones((2, 4), np.float32)},
            "score = 'leaky_relu' needs input 'weight' of shape [H, C] = [2, 3], got [2, 4]",
        ),
        (
            ("leaky_relu", True),
            {"weight": np.ones(6, np.float32)},
            "score = 'leaky_relu' needs input 'weight' of shape [H, C] = [2, 3], got [6]",
        ),
        (
            ("dot", True),
            {"weight": np.ones((2, 3), np.float32)},
            "score = 'dot' takes no input 'weight' (got one of shape [2, 3])",
        ),
        (
            ("dot", False),
            {"node_i": np.ones((3, 6), np.float32)},
            "input 'node_i' has shape [3, 6], expected [N, H, C]",
        ),
        (
            ("dot", False),
            {"node_j": np.ones((4, 2, 4), np.float32)},
            "input 'node_j' has shape [4, 2, 4], expected [M, H, C] with [H, C] = [2, 3] "
            "(from input 'node_i')",
        ),
        (
            ("dot", False),
            {"source": np.zeros((3, 1), np.int64)},
            "input 'source' has shape [3, 1], expected [E]",
        ),
        (
            ("dot", False),
            {"target": np.array([0, 1])},
            "input 'target' has shape [2], expected [E] = [3] (E from input 'source')",
        ),
        (
            ("dot", False),
            {"source": np.array([0, 1, 4])},
            "source[2] = 4 is out of range [0, 4) (node_j has 4 rows)",
        ),
        (
            ("leaky_relu", True),
            {"target": np.array([0, -1, 1])},
            "target[1] = -1 is out of range [0, 3) (node_i has 3 rows)",
        ),
        (
            ("cosine", False),
            {},
            "attribute score = 'cosine' is not one of dot, leaky_relu",
        ),
        (
            (None, False),
            {},
            "the string attribute 'score' (one of dot, leaky_relu) is missing",
        ),
    ],
)
def test_edge_score_errors(tmp_path, model, change, message):
    score, weight = model
    feeds = {
        "node_i": np.ones((3, 2, 3), np.float32),
        "node_j": np.ones((4, 2, 3), np.float32),
        "source": np.array([0, 1, 3]),
        "target": np.array([0, 2, 1]),
    }
    if weight:
        feeds["weight"] = np.ones((2, 3), np.float32)
    feeds.update(change)
    runners = Runners(declared_as(edge_score_model(score, weight), feeds), tmp_path)
    for run in (runners.python, runners.native):
        assert "ai.e2e_gnn.EdgeScore: " + message in error_of(run, feeds)


# 5,000 rows and 40,000 edges: enough for the kernels to split them among threads
THREADS_ROWS, THREADS_EDGES = 5000, 40000


@pytest.mark.parametrize("reduce", ["sum", "max"])
def test_gather_segment_reduce_weight_per_head_does_not_depend_on_threads(tmp_path, reduce):
    rng = np.random.default_rng(19)
    values, source, index, rows, weight = random_gather(
        rng, THREADS_ROWS, THREADS_EDGES, THREADS_ROWS, (4, 16), 11, weight_dims=1
    )
    runners = Runners(gather_segment_reduce_model(reduce, "input", 2, 1), tmp_path)
    expected = gather_reference(values, source, index, rows, weight, "input", reduce)
    feeds = gather_feeds(values, source, index, rows, weight, "input")
    check_outputs(same_on_threads(runners, feeds), [expected])


def test_segment_softmax_does_not_depend_on_threads(tmp_path):
    rng = np.random.default_rng(20)
    index = rng.integers(0, THREADS_ROWS, THREADS_EDGES)
    src = (rng.normal(size=(THREADS_EDGES, 8)) * 3).astype(np.float32)
    runners = Runners(segment_softmax_model(), tmp_path)
    feeds = {"src": src, "index": index, "rows": np.array(THREADS_ROWS)}
    expected = softmax_reference(src, index, THREADS_ROWS)
    check_outputs(same_on_threads(runners, feeds), [expected])


@pytest.mark.parametrize("score", ["dot", "leaky_relu"])
def test_edge_score_does_not_depend_on_threads(tmp_path, score):
    rng = np.random.default_rng(21)
    feeds, weight = random_scores(rng, THREADS_ROWS, THREADS_ROWS, THREADS_EDGES, 4, 16)
    if score == "leaky_relu":
        feeds["weight"] = weight
    runners = Runners(edge_score_model(score, score == "leaky_relu"), tmp_path)
    expected = edge_score_reference(**feeds, score=score)
    check_outputs(same_on_threads(runners, feeds), [expected])


def test_onnx_schemas():
    """The schemas e2e_gnn.nn._fused_ops registers accept the models above; a
    GatherSegmentReduce of 3 inputs is refused."""
    from onnx import checker

    from e2e_gnn.nn._fused_ops import _register_schemas

    _register_schemas()
    checked = [(gather_segment_reduce_model("sum", mode), ["rows", "F0"]) for mode in WEIGHTS]
    checked += [
        (gather_segment_reduce_model("sum", "input", 2, 1), ["rows", "F0", "F1"]),
        (segment_softmax_model(), ["E", "F0"]),
        (edge_score_model("dot", negative_slope=0.2), ["E", "H"]),
        (edge_score_model("leaky_relu", weight=True, negative_slope=0.01), ["E", "H"]),
    ]
    for model, shape in checked:
        out = model.graph.output[0]
        out.CopyFrom(onnx.helper.make_tensor_value_info(out.name, TensorProto.FLOAT, shape))
        checker.check_model(model, full_check=True)  # the checker wants the output's shape
    model = checked[0][0]  # 4 inputs
    model.graph.node[0].input.pop()
    with pytest.raises(checker.ValidationError, match=r"has input size 3 not in range \[min=4"):
        checker.check_model(model, full_check=True)
