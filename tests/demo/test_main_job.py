"""The README's main job (`e2e-gnn demo`), end to end on a small sample: every file it
promises is written, and the three backends give the same scores for both taggers."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from e2e_gnn.demo import DemoConfig, run_demo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_main_job_runs_on_a_small_sample(tmp_path) -> None:
    output = io.StringIO()
    out = tmp_path / "demo"
    aucs = run_demo(DemoConfig(out=out, events=300, epochs=1), Console(file=output, width=200))

    promised = {
        "events.root",
        "frames.png",
        "test_graphs.root",
        "tagger.pt",
        "tagger.onnx",
        "cnn.pt",
        "cnn.onnx",
        "roc.png",
    }
    assert {p.name for p in out.iterdir()} == promised
    for name in promised:
        assert (out / name).stat().st_size > 0, name
    for plot in ("frames.png", "roc.png"):
        assert (out / plot).read_bytes()[:8] == PNG_SIGNATURE, plot
    assert set(aucs) == {"edgeconv", "cnn"}
    for model, by_backend in aucs.items():
        assert set(by_backend) == {"torch", "onnxruntime", "native"}, model
        assert all(0.0 <= auc <= 1.0 for auc in by_backend.values()), model
        # scores agree to ~1e-7: only a near-tie of a signal and a background jet could
        # move an AUC
        for backend in ("onnxruntime", "native"):
            assert by_backend[backend] == pytest.approx(by_backend["torch"], abs=0.01), model
    text = output.getvalue()
    listing = text[text.index(f"wrote {out}/:") :]
    for name in promised:  # every file written is listed with its size
        shown = re.search(rf"^  {re.escape(name)} +([0-9.]+) (bytes|kB|MB) ", listing, re.M)
        assert shown, name
        scale = {"bytes": 1, "kB": 1e3, "MB": 1e6}[shown[2]]
        assert float(shown[1]) * scale == pytest.approx((out / name).stat().st_size, rel=0.05)
    assert "many graphs, shuffled" in text  # the parity table was printed
    assert f"e2e-gnn infer --model {out / 'tagger.onnx'}" in text
