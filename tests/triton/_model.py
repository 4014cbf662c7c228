"""Regenerate ``data/tiny_gnn.onnx``: a small EdgeConvTagger exported by e2e_gnn.

Run ``python tests/triton/_model.py`` after a change of the export format; the Triton tests
use the checked-in file so that they need neither torch nor an export at test time.
"""

from __future__ import annotations

from pathlib import Path

import torch

from e2e_gnn.export import export_onnx
from e2e_gnn.export.parity import default_example
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.spec import ModelSpec


def main(path: Path) -> None:
    torch.manual_seed(0)
    model = EdgeConvTagger(len(TOY_GRAPH_SPEC.feature_names), hidden=16, num_layers=2).eval()
    spec = ModelSpec("tiny_gnn", "EdgeConvTagger", model.hyperparameters, graph=TOY_GRAPH_SPEC)
    export_onnx(model, spec, path, default_example(spec))


if __name__ == "__main__":
    main(Path(__file__).with_name("data") / "tiny_gnn.onnx")
