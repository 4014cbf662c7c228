"""The exporter's graph optimisation is torch's own without onnxscript's quadratic
SlicesSplit rule: the same operators and the same numbers on the tagger."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from e2e_gnn.export import optimize as optimize_module
from e2e_gnn.export.parity import default_example


def test_left_out_rules_are_onnxscript_defaults() -> None:
    from onnxscript import rewriter

    names = {getattr(rule, "name", None) for rule in rewriter._DEFAULT_REWRITE_RULES}
    assert names >= optimize_module.QUADRATIC_RULES  # a renamed rule would run again, slowly
    assert optimize_module._passes() is not None


def test_optimised_like_torch(
    tagger_export, export_toy_tagger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, spec, ours = tagger_export  # exported through e2e_gnn.export.optimize
    monkeypatch.setattr(optimize_module, "_passes", lambda: None)  # torch's program.optimize()
    torchs = tmp_path / "torch_optimised.onnx"
    export_toy_tagger(torchs, "test_tagger", seed=0)  # the same model as tagger_export's

    graphs = [onnx.load(str(path)).graph for path in (ours, torchs)]
    operators = [Counter(node.op_type for node in graph.node) for graph in graphs]
    assert operators[0] == operators[1]
    assert len(graphs[0].initializer) == len(graphs[1].initializer)
    feed = default_example(spec).inputs()
    scores = [
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)[0]
        for path in (ours, torchs)
    ]
    np.testing.assert_array_equal(scores[0], scores[1])
