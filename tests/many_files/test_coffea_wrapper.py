"""The side-by-side benchmark's two paths agree: coffea.ml_tools.torch_wrapper running the
padded TorchScript rewrite a coffea user writes (benchmarks/bench_coffea.py) gives the scores
of ``tag_objects`` on the exported model, event by event, on the real NanoAOD file. The
benchmark trains its model first; here the session's jet tagger (random weights, k = 4)."""

from __future__ import annotations

import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from e2e_gnn.runtime.dask_awkward import tag_objects

pytest.importorskip("coffea")
pytest.importorskip("torch")
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import bench_coffea  # noqa: E402

pytestmark = pytest.mark.skipif(
    not bench_coffea.NANOAOD.is_file(),
    reason=f"real CMS Open Data NanoAOD file not found at {bench_coffea.NANOAOD}",
)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script's, torch_wrapper's way
def test_torch_wrapper_gives_the_scores_of_tag_objects(jet_tagger_export, tmp_path: Path) -> None:
    model, spec, onnx_path = jet_tagger_export
    jets, _ = bench_coffea.read_jets()
    script_path = bench_coffea.padded_torchscript(model, spec, tmp_path / "padded.pt")
    wrapper = bench_coffea.jet_tagger_class()(str(script_path), expected_output_shape=(None, 1))
    ours = tag_objects(jets, onnx_path)
    theirs = bench_coffea.wrapper_column(wrapper, jets)
    has = ak.to_numpy(ak.num(jets, axis=1)) > 0
    assert not has.all(), "the file has events without jets: both must give None there"
    np.testing.assert_array_equal(ak.to_numpy(ak.is_none(ours)), ~has)
    np.testing.assert_array_equal(ak.to_numpy(ak.is_none(theirs)), ~has)
    # float32 torch against ONNX Runtime, different operation order: not bit for bit
    np.testing.assert_allclose(ak.to_numpy(theirs[has]), ak.to_numpy(ours[has]), atol=1e-5)
