"""Write the models and reference data the C++ tests read (run by `make ctest`).

tagger.onnx: an EdgeConvTagger exported by e2e_gnn (parity-checked against torch);
graphs_*.bin/.shape: a batch of graphs and torch's scores for it, as raw little-endian
arrays with their shapes in text, so the C++ tests compare against torch, not against
ONNX Runtime itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from e2e_gnn.export import export_onnx
from e2e_gnn.export.parity import default_example
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, graphs_from_features, random_features
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.spec import ModelSpec


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
    export_onnx(model, spec, directory / "tagger.onnx", default_example(spec.graph))
    (directory / "corrupt.onnx").write_bytes(b"\x08\x07 definitely not an ONNX model")

    rng = np.random.default_rng(1)
    batch = graphs_from_features(random_features(rng, [1, 7, 40, 3], 4), TOY_GRAPH_SPEC)
    with torch.no_grad():
        inputs = [torch.from_numpy(a) for a in batch.inputs().values()]
        scores = torch.sigmoid(model(*inputs)).numpy()
    for name, array in {**batch.inputs(), "scores": scores}.items():
        write_array(directory, f"graphs_{name}", array)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
