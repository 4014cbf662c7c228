"""The parity rule |torch - onnx| <= atol + rtol |torch|: regression outputs of hundreds of
GeV differ by float32 rounding alone by more than any useful absolute tolerance."""

from __future__ import annotations

import numpy as np

from e2e_gnn.export.parity import check_parity
from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.spec import node_output


def _cases() -> dict[str, GraphBatch]:
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    return {"one graph": GraphBatch.from_graphs([(x, np.zeros((2, 0), np.int64))])}


def _energies(batch: GraphBatch) -> dict[str, np.ndarray]:
    return {"energy": 100.0 * (1.0 + batch.x[:, :1])}  # 100 to 500 GeV per node


def _rounded(batch: GraphBatch) -> dict[str, np.ndarray]:
    wanted = _energies(batch)["energy"]
    return {"energy": wanted * (1 + 2.5e-7)}  # 2.5e-7 relative: 1.25e-4 GeV at 500 GeV


OUTPUTS = (node_output("energy", 1),)


def test_relative_tolerance_accepts_float32_rounding_of_large_outputs() -> None:
    strict = check_parity(_energies, _rounded, _cases(), 1e-5, OUTPUTS)
    assert not strict.passed and strict.max_abs_diff > 1e-5
    assert "FAIL (> 1e-05)" in strict.table()
    relative = check_parity(_energies, _rounded, _cases(), 1e-5, OUTPUTS, rtol=1e-6)
    assert relative.passed
    assert relative.max_abs_diff == strict.max_abs_diff  # the report still shows |diff|


def test_relative_tolerance_still_refuses_a_real_difference() -> None:
    def off(batch: GraphBatch) -> dict[str, np.ndarray]:
        return {"energy": _energies(batch)["energy"] * (1 + 1e-5)}

    report = check_parity(_energies, off, _cases(), 1e-5, OUTPUTS, rtol=1e-6)
    assert not report.passed
    assert "FAIL (> 1e-05 + 1e-06 |torch|)" in report.table()


def test_random_examples_follow_the_training_scale_of_the_model() -> None:
    import torch

    from e2e_gnn.export.parity import default_example, parity_cases, training_scale
    from e2e_gnn.spec import GraphSpec, ModelSpec

    model = torch.nn.Module()
    model.register_buffer("feature_mean", torch.tensor([100.0, -3.0]))
    model.register_buffer("feature_std", torch.tensor([20.0, 0.1]))
    scale = training_scale(model)
    assert scale is not None and training_scale(torch.nn.Linear(2, 2)) is None
    spec = ModelSpec("m", "M", {}, graph=GraphSpec(("energy", "eta"), k=4, coordinates=("eta",)))
    example = default_example(spec, sizes=(300, 200), scale=scale)
    np.testing.assert_allclose(example.x.mean(axis=0), [100.0, -3.0], rtol=0.05)
    np.testing.assert_allclose(example.x.std(axis=0), [20.0, 0.1], rtol=0.1)
    large = parity_cases(spec, example, scale=scale)["larger than example"]
    np.testing.assert_allclose(large.x.mean(axis=0), [100.0, -3.0], rtol=0.05)
