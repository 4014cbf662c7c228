"""benchmarks/floors.py: the FLOPs and bytes of a model are counted from its real shapes
(expected values worked out by hand here), the taken branch of an If counts, and the floor
is the larger of compute and memory time on the measured peaks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from _bench_samples import PER_CALL_US
from onnx import TensorProto, helper, numpy_helper

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import floors  # noqa: E402

M, K, N = 50, 8, 4
F32 = 4  # bytes


def _model(nodes: list[onnx.NodeProto], inputs: list, outputs: list, weights: list) -> bytes:
    graph = helper.make_graph(nodes, "probe", inputs, outputs, weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def _dense() -> bytes:
    """relu(reshape(x) @ w + b) with x [M*K], w [K, N], b [N]."""
    weights = [
        numpy_helper.from_array(np.ones((K, N), np.float32), "w"),
        numpy_helper.from_array(np.ones(N, np.float32), "b"),
        numpy_helper.from_array(np.array([M, K], np.int64), "shape"),
    ]
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["x2"]),
        helper.make_node("MatMul", ["x2", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["pre"]),
        helper.make_node("Relu", ["pre"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, N])
    return _model(nodes, [x], [y], weights)


def test_flops_and_bytes_from_the_real_shapes() -> None:
    work = floors.model_work(_dense(), {"x": np.ones(M * K, np.float32)})
    assert work["flops"] == 2 * M * K * N + M * N + M * N  # MatMul, Add, Relu
    matmul = (M * K + K * N + M * N) * F32
    add = (M * N + N + M * N) * F32
    relu = 2 * M * N * F32
    assert work["bytes_upper"] == matmul + add + relu  # the Reshape is a view: no bytes
    assert work["by_op"]["Reshape"] == {"nodes": 1, "flops": 0, "bytes_upper": 0}
    # inputs, weights (shape included) and outputs once
    assert work["bytes_lower"] == (M * K + K * N + N + M * N) * F32 + 2 * 8


def test_the_floor_is_compute_or_memory_whichever_is_longer() -> None:
    feeds = {"x": np.ones(M * K, np.float32)}
    flops = 2 * M * K * N + 2 * M * N
    # 1 GFLOP/s and 1 GB/s: 1 flop = 1e-6 ms, 1 byte = 1e-6 ms
    floor = floors.model_floor(
        _dense(), feeds, {"matmul_gflops_1_thread": 1.0, "bandwidth_gbs": 1.0}
    )
    lower, upper = floor["bytes_lower"], floor["bytes_upper"]
    assert floor["compute_ms"] == pytest.approx(flops * 1e-6, rel=1e-3)
    assert floor["floor_ms"] == pytest.approx(max(flops, lower) * 1e-6, rel=1e-3)
    assert floor["unfused_ms"] == pytest.approx(max(flops, upper) * 1e-6, rel=1e-3)
    against = floors.against(2 * floor["floor_ms"], floor, per=4)
    assert against["x_floor"] == 8.0  # a quarter of the floor per item, twice the time
    assert against["floor_ms"] == pytest.approx(floor["floor_ms"] / 4, rel=1e-3)


@pytest.mark.parametrize("taken", [True, False])
def test_the_taken_branch_of_an_if_counts(taken: bool) -> None:
    then = helper.make_graph(
        [helper.make_node("Mul", ["x", "x"], ["sq"])],
        "then",
        [],
        [helper.make_tensor_value_info("sq", TensorProto.FLOAT, [M])],
    )
    other = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["same"])],
        "else",
        [],
        [helper.make_tensor_value_info("same", TensorProto.FLOAT, [M])],
    )
    nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)]
    inputs = [
        helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [M]),
    ]
    model = _model(nodes, inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M])], [])
    work = floors.model_work(model, {"cond": np.array(taken), "x": np.ones(M, np.float32)})
    assert work["flops"] == (M if taken else 0)
    assert work["bytes_upper"] == (3 * M * F32 if taken else 0)


def test_gemm_and_conv_flops() -> None:
    gemm = helper.make_node("Gemm", ["a", "w", "c"], ["g"], transA=1)
    conv = helper.make_node("Conv", ["img", "k"], ["o"])  # 3x3 kernel, no padding
    weights = [
        numpy_helper.from_array(np.ones((K, N), np.float32), "w"),
        numpy_helper.from_array(np.ones(N, np.float32), "c"),
        numpy_helper.from_array(np.ones((5, 2, 3, 3), np.float32), "k"),
    ]
    inputs = [
        helper.make_tensor_value_info("a", TensorProto.FLOAT, [K, M]),
        helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 2, 6, 6]),
    ]
    outputs = [
        helper.make_tensor_value_info("g", TensorProto.FLOAT, [M, N]),
        helper.make_tensor_value_info("o", TensorProto.FLOAT, [1, 5, 4, 4]),
    ]
    feeds = {"a": np.ones((K, M), np.float32), "img": np.ones((1, 2, 6, 6), np.float32)}
    work = floors.model_work(_model([gemm, conv], inputs, outputs, weights), feeds)
    assert work["by_op"]["Gemm"]["flops"] == 2 * M * N * K + M * N
    assert work["by_op"]["Conv"]["flops"] == 2 * (5 * 4 * 4) * (2 * 3 * 3)


def test_a_loop_is_refused_in_one_line() -> None:
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Identity", ["v_in"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [M]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [M]),
        ],
    )
    loop = helper.make_node("Loop", ["trips", "", "x"], ["y"], body=body, name="the_loop")
    model = _model(
        [loop],
        [
            helper.make_tensor_value_info("trips", TensorProto.INT64, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [M]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M])],
        [],
    )
    feeds = {"trips": np.array(2, np.int64), "x": np.ones(M, np.float32)}
    with pytest.raises(ValueError, match="node 'the_loop' is a Loop: loops are not counted"):
        floors.model_work(model, feeds)


def test_peaks_are_measured() -> None:
    peaks = floors.peaks(quick=True)
    assert peaks["matmul_gflops_1_thread"] > 0.1
    assert peaks["matmul_gflops_all_cores"] > 0.1
    assert peaks["bandwidth_gbs"] == max(peaks["bandwidth_gbs_by_kernel"].values()) > 0.1
    assert set(peaks["matmul_gflops_by_shape"]["1_thread"]) == {
        f"{m}x{k}x{n}" for m, k, n in floors.MATMUL_SHAPES
    }


def test_the_knn_floor_is_its_edges_moved_or_their_distances() -> None:
    # 1 GFLOP/s and 1 GB/s: 1 flop = 1e-6 ms, 1 byte = 1e-6 ms
    machine = {"matmul_gflops_1_thread": 1.0, "bandwidth_gbs": 1.0}
    floor = floors.knn_floor([100, 100], 16, 2, machine)
    edges = 100 * 16  # per graph
    assert floor["flops"] == edges * (2 + 2 + 1)  # two differences, two squares, one sum
    assert floor["bytes"] == 100 * 2 * F32 + edges * 2 * 8  # positions in, int64 edges out
    assert floor["floor_ms"] == pytest.approx(26_400e-6, rel=1e-3)  # memory-bound
    assert floor["brute_force_ms"] == pytest.approx(100 * 99 / 2 * 5e-6, rel=1e-3)
    # the native time: ten times the floor, and no op-by-op time for a kNN
    assert floors.against(0.264, floor) == {"floor_ms": 0.0264, "x_floor": 10.0}
    # a graph smaller than k: n - 1 edges per node; a fast bus leaves the distances
    tiny = floors.knn_floor([5], 16, 3, {"matmul_gflops_1_thread": 1.0, "bandwidth_gbs": 1e6})
    assert tiny["flops"] == 5 * 4 * (3 * 3 - 1)
    assert tiny["floor_ms"] == pytest.approx(5 * 4 * 8e-6, rel=1e-3)
    assert min(floor["floor_ms"], floor["brute_force_ms"], tiny["floor_ms"]) > 0


def test_a_python_layer_is_a_multiple_of_the_fixed_cost_of_a_call() -> None:
    import bench_per_call

    x_floor = bench_per_call.x_floor(PER_CALL_US, model_floor_us=0.5)
    assert x_floor[bench_per_call.FIXED] == 1.0
    assert x_floor["Python Tagger above native Tagger.run"] == (8 + 4) / 8
    assert x_floor["Python hits->scores above C++ hits->scores"] == (8 + 12) / 8
    assert x_floor[bench_per_call.COMPUTE] == (28 - 8) / 0.5  # against the model's floor
    assert bench_per_call.NATIVE_VS_RAW not in x_floor  # two paths' difference: no floor
    assert all(x > 0 for x in x_floor.values())
