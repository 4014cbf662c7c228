"""Write the models and reference data the C++ tests read (run by `make ctest`).

tagger.onnx: an EdgeConvTagger exported by e2e_gnn (parity-checked against torch);
graphs_*.bin/.shape: a batch of graphs and torch's scores for it, as raw little-endian
arrays with their shapes in text, so the C++ tests compare against torch, not against
ONNX Runtime itself. nodes_*: node features of jets with the edges the NumPy reference kNN
builds from the spec and torch's scores (for the Tagger's own graph building);
spec_format_2.onnx, spec_version_9.onnx, no_spec.onnx: the tagger with wrong metadata;
thread_safe.onnx, not_thread_safe.onnx: the tagger marked thread-safe or not.
edge_aggregate_*.onnx, segment_reduce_*.onnx (custom_op_models.py): one node of e2e_gnn's
custom operators each.
node_model.onnx, node_model_u.onnx (node_models.py): hand-made node-level models with a
per-node and a per-graph output; node_*: jets (one-node ones, one across phi = +-pi), their
Delaunay edges from scipy and the outputs of the NumPy reference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import custom_op_models
import node_models
import numpy as np
import onnx
import torch

from e2e_gnn.export import export_onnx
from e2e_gnn.export.parity import default_example
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.reference import delaunay_reference, knn_reference
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, graphs_from_features, random_features
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.spec import SPEC_KEY, VERSION_KEY, ModelSpec


def write_array(directory: Path, name: str, array: np.ndarray) -> None:
    np.ascontiguousarray(array).tofile(directory / f"{name}.bin")
    (directory / f"{name}.shape").write_text(" ".join(map(str, array.shape)))


def main(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = EdgeConvTagger(len(TOY_GRAPH_SPEC.feature_names), hidden=16, num_layers=2).eval()
    spec = ModelSpec(
        "cpp_test_tagger", "EdgeConvTagger", model.hyperparameters, graph=TOY_GRAPH_SPEC
    )
    export_onnx(model, spec, directory / "tagger.onnx", default_example(spec))
    (directory / "corrupt.onnx").write_bytes(b"\x08\x07 definitely not an ONNX model")

    rng = np.random.default_rng(1)
    batch = graphs_from_features(random_features(rng, [1, 7, 40, 3], 4), TOY_GRAPH_SPEC)
    with torch.no_grad():
        inputs = [torch.from_numpy(a) for a in batch.inputs().values()]
        scores = torch.sigmoid(model(*inputs)).numpy()
    for name, array in {**batch.inputs(), "scores": scores}.items():
        write_array(directory, f"graphs_{name}", array)
    write_node_jets(directory, model, rng)
    write_bad_metadata(directory)
    write_node_level(directory)
    custom_op_models.write(directory)


def write_node_jets(directory: Path, model: torch.nn.Module, rng: np.random.Generator) -> None:
    """Jets as raw node features; edges from the NumPy reference kNN of the toy spec."""
    features = random_features(rng, [5, 1, 60, 9, 2, 33], len(TOY_GRAPH_SPEC.feature_names))
    x = np.concatenate(features)
    ptr = np.concatenate([[0], np.cumsum([len(f) for f in features])]).astype(np.int64)
    columns = [TOY_GRAPH_SPEC.feature_names.index(c) for c in TOY_GRAPH_SPEC.coordinates]
    scale = np.asarray(TOY_GRAPH_SPEC.coordinate_scale, dtype=np.float32)
    pos = np.ascontiguousarray(x[:, columns] * scale)
    edge_index = knn_reference(pos, ptr, TOY_GRAPH_SPEC.k, loop=TOY_GRAPH_SPEC.loop)
    batch = np.repeat(np.arange(len(features), dtype=np.int64), np.diff(ptr))
    graphs = GraphBatch(x, edge_index.astype(np.int64), batch, len(features))
    with torch.no_grad():
        inputs = [torch.from_numpy(a) for a in graphs.inputs().values()]
        scores = torch.sigmoid(model(*inputs)).numpy()
    for name, array in {
        "x": x,
        "ptr": ptr,
        "edge_index": graphs.edge_index,
        "scores": scores,
    }.items():
        write_array(directory, f"nodes_{name}", array)


def write_node_level(directory: Path) -> None:
    """The node-level models and jets of 1, 5, 1, 7 and 4 constituents; jet 3 lies across
    phi = +-pi (its phi values wrapped into [-pi, pi)), so its Delaunay edges need the
    builder's phi unwrapping. Edges from scipy (Qhull) on the unwrapped positions."""
    node_models.write(directory)
    rng = np.random.default_rng(5)
    sizes = [1, 5, 1, 7, 4]
    centres = [0.3, -1.0, 2.0, np.pi, 0.0]
    # alternating signs: some constituents of jet 3 on either side of phi = +-pi
    spread = [np.abs(rng.normal(0, 0.1, n)) * np.resize([1, -1], n) for n in sizes]
    x = np.concatenate(
        [
            np.stack(
                [
                    rng.normal(0, 0.1, len(d)),
                    np.mod(c + d + np.pi, 2 * np.pi) - np.pi,
                    rng.uniform(1, 10, len(d)),
                ],
                axis=1,
            )
            for d, c in zip(spread, centres, strict=True)
        ]
    ).astype(np.float32)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    assert np.ptp(x[ptr[3] : ptr[4], 1]) > np.pi  # jet 3 straddles the wrap
    pos = np.stack([x[:, 0], node_models.unwrapped_phi(x[:, 1], ptr)], axis=1)
    edge_index = delaunay_reference(pos, ptr)
    u = rng.normal(size=(len(sizes), 2)).astype(np.float32)
    fraction, total = node_models.reference(x, edge_index, ptr)
    u_fraction, u_total = node_models.reference(x, np.zeros((2, 0), np.int64), ptr, u)
    for name, array in {
        "x": x,
        "ptr": ptr,
        "edge_index": edge_index,
        "u": u,
        "fraction": fraction.astype(np.float32),
        "total": total.astype(np.float32),
        "u_fraction": u_fraction.astype(np.float32),
        "u_total": u_total.astype(np.float32),
    }.items():
        write_array(directory, f"node_{name}", array)


def with_thread_safe(spec: str, value: bool) -> str:
    return json.dumps({**json.loads(spec), "thread_safe": value})


def write_bad_metadata(directory: Path) -> None:
    """Copies of the tagger whose metadata this library must refuse, and copies marked
    thread-safe or not (the thread rule)."""
    for name, key, change in (
        ("spec_format_2", SPEC_KEY, lambda v: v.replace('"format": 1', '"format": 2')),
        ("spec_version_9", VERSION_KEY, lambda v: "9.0.0"),
        ("no_spec", SPEC_KEY, None),
        ("thread_safe", SPEC_KEY, lambda v: with_thread_safe(v, True)),
        ("not_thread_safe", SPEC_KEY, lambda v: with_thread_safe(v, False)),
    ):
        model = onnx.load(directory / "tagger.onnx")
        props = [p for p in model.metadata_props if change is not None or p.key != key]
        for prop in props:
            if prop.key == key and change is not None:
                prop.value = change(prop.value)
        del model.metadata_props[:]
        model.metadata_props.extend(props)
        onnx.save(model, directory / f"{name}.onnx")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
