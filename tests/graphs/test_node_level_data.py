"""Graph-level features u, per-node targets node_y and Ragged per-node outputs: the data
side of node-level models (the contract of docs/node_outputs.md)."""

from __future__ import annotations

import numpy as np
import pytest

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.io.errors import FileContentError
from e2e_gnn.io.graph_files import read_graphs, write_graphs
from e2e_gnn.ragged import Ragged
from e2e_gnn.spec import GRAPH_INPUTS, GraphSpec, ModelSpec, TensorSpec, graph_inputs, node_output


def _batch(rng: np.random.Generator) -> GraphBatch:
    graphs = GraphBatch.from_graphs(
        [
            (rng.random((3, 2)), np.array([[0, 1], [1, 2]])),
            (rng.random((1, 2)), np.zeros((2, 0), dtype=np.int64)),
            (rng.random((2, 2)), np.array([[1], [0]])),
        ],
        y=[1, 0, 1],
        u=rng.random((3, 3)),
    )
    node_y = rng.random((graphs.num_nodes, 2)).astype(np.float32)
    return GraphBatch(
        *(getattr(graphs, f) for f in ("x", "edge_index", "batch")), 3, graphs.y, graphs.u, node_y
    )


def test_select_keeps_u_rows_and_node_targets() -> None:
    graphs = _batch(np.random.default_rng(0))
    picked = graphs.select([2, 0])
    np.testing.assert_array_equal(picked.u, graphs.u[[2, 0]])
    # graph 2 owns nodes 4, 5 and graph 0 nodes 0, 1, 2
    np.testing.assert_array_equal(picked.node_y, graphs.node_y[[4, 5, 0, 1, 2]])
    assert list(picked.inputs()) == ["x", "edge_index", "batch", "u"]


@pytest.mark.parametrize(
    ("u", "width", "message"),
    [
        (np.ones((3, 3), np.float32), 0, "takes no graph features"),
        (None, 3, "'u' [3, 3] is missing"),
        (np.ones((2, 3), np.float32), 3, "expected [3, 3]"),
        (np.ones((3, 4), np.float32), 3, "expected [3, 3]"),
        (np.array([[1, 2, np.nan]] * 3, np.float32), 3, "non-finite value nan at graph 0"),
    ],
)
def test_graph_features_are_checked_against_the_model(u, width, message) -> None:
    graphs = _batch(np.random.default_rng(1))
    graphs = GraphBatch(graphs.x, graphs.edge_index, graphs.batch, 3, u=u)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        graphs.validate(2, width)


def test_ragged_splits_rows_per_graph_and_concatenates() -> None:
    graphs = _batch(np.random.default_rng(2))
    values = np.arange(12, dtype=np.float32).reshape(6, 2)
    ragged = Ragged.from_batch(values, graphs)
    assert len(ragged) == 3 and ragged.counts.tolist() == [3, 1, 2]
    np.testing.assert_array_equal(ragged[1], values[3:4])
    np.testing.assert_array_equal(ragged[-1], values[4:6])
    both = Ragged.concatenate([ragged, ragged])
    assert both.counts.tolist() == [3, 1, 2, 3, 1, 2]
    np.testing.assert_array_equal(both[4], values[3:4])
    assert [len(r) for r in ragged.to_awkward()] == [3, 1, 2]
    with pytest.raises(IndexError, match="graph 3 out of range for 3 graphs"):
        ragged[3]
    with pytest.raises(ValueError, match="5 rows but the batch has 6 nodes"):
        Ragged.from_batch(values[:5], graphs)
    with pytest.raises(ValueError, match="rising from 0"):
        Ragged(values, np.array([0, 4, 3, 6]))


@pytest.mark.parametrize("suffix", [".npz", ".root", ".parquet"])
def test_graph_files_round_trip_u_and_node_targets(tmp_path, suffix) -> None:
    graphs = _batch(np.random.default_rng(3))
    path = write_graphs(
        tmp_path / f"g{suffix}",
        graphs,
        feature_names=["a", "b"],
        graph_feature_names=["jet_pt", "jet_eta", "mu"],
        node_target_names=["t0", "t1"],
        event=np.array([5, 6, 7]),
    )
    read = read_graphs(
        path,
        feature_names=["b", "a"],
        graph_feature_names=["mu", "jet_pt"],
        node_target_names=["t1"],
    )
    np.testing.assert_array_equal(read.graphs.x, graphs.x[:, [1, 0]])
    np.testing.assert_array_equal(read.graphs.u, graphs.u[:, [2, 0]])
    np.testing.assert_array_equal(read.graphs.node_y, graphs.node_y[:, [1]])
    np.testing.assert_array_equal(read.columns["event"], [5, 6, 7])
    plain = read_graphs(path, feature_names=["a", "b"])
    assert plain.graphs.u is None and plain.graphs.node_y is None
    with pytest.raises(FileContentError, match=r"lacks node targets \['energy'\]"):
        read_graphs(path, node_target_names=["energy"])
    with pytest.raises(FileContentError, match=r"lacks graph features \['rho'\]"):
        read_graphs(path, graph_feature_names=["rho"])


def test_writing_u_or_node_targets_needs_their_names(tmp_path) -> None:
    graphs = _batch(np.random.default_rng(4))
    with pytest.raises(ValueError, match="u has 3 columns: pass graph_feature_names"):
        write_graphs(tmp_path / "g.root", graphs, node_target_names=["t0", "t1"])
    with pytest.raises(ValueError, match="node_y has 2 columns: pass node_target_names"):
        write_graphs(tmp_path / "g.npz", graphs, graph_feature_names=["a", "b", "c"])


def test_spec_levels_and_graph_feature_inputs() -> None:
    assert node_output("fraction", 1).per_node
    assert not TensorSpec("scores", "float32", ("graphs", "classes")).per_node
    plain = GraphSpec(("eta", "phi"))
    with_u = GraphSpec(("eta", "phi"), graph_feature_names=("jet_pt", "mu"))
    assert graph_inputs(plain) == GRAPH_INPUTS
    assert [t.name for t in graph_inputs(with_u)] == ["x", "edge_index", "batch", "u"]
    spec = ModelSpec("m", "M", {}, inputs=graph_inputs(with_u), graph=with_u)
    assert spec.num_graph_features == 2
    read = ModelSpec.from_json(spec.to_json())
    assert read.graph == with_u and read.inputs[3].shape == ("graphs", "graph_features")
