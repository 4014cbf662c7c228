"""The masked losses against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from e2e_gnn.train.losses import masked_bce, masked_mae, masked_mse

# three labelled points and one masked (target -1), whose prediction would dominate
PRED = torch.tensor([[1.0], [2.0], [0.5], [100.0]])
TARGET = torch.tensor([[0.0], [4.0], [0.5], [-1.0]])
WEIGHT = torch.tensor([[1.0], [3.0], [2.0], [50.0]])


def test_masked_mse_and_mae_skip_points_labelled_minus_one() -> None:
    # errors of the kept points: 1, -2, 0
    assert masked_mse(PRED, TARGET).item() == pytest.approx((1 + 4 + 0) / 3)
    assert masked_mae(PRED, TARGET).item() == pytest.approx((1 + 2 + 0) / 3)


def test_energy_weighted_variant() -> None:
    # weights 1, 3, 2 of the kept points; the masked point's 50 counts nowhere
    assert masked_mse(PRED, TARGET, WEIGHT).item() == pytest.approx((1 * 1 + 3 * 4) / 6)
    assert masked_mae(PRED, TARGET, WEIGHT).item() == pytest.approx((1 * 1 + 3 * 2) / 6)


def test_masked_bce() -> None:
    prob = torch.tensor([0.8, 0.25, 0.5, 0.9])
    target = torch.tensor([1.0, 0.0, 0.5, -1.0])
    expected = -(math.log(0.8) + math.log(0.75) + 0.5 * math.log(0.5) + 0.5 * math.log(0.5)) / 3
    assert masked_bce(prob, target).item() == pytest.approx(expected, rel=1e-6)
    # probabilities of exactly 0 and 1 are clamped to 1e-7 and 1 - 1e-7: finite
    zero = masked_bce(torch.tensor([0.0]), torch.tensor([1.0]))
    assert zero.item() == pytest.approx(-math.log(1e-7), rel=1e-6)
    one = masked_bce(torch.tensor([1.0]), torch.tensor([0.0]))
    assert 15 < one.item() < 17  # -log(1.2e-7): 1 - 1e-7 rounds to 1 - 2^-23 in float32


def test_masked_points_get_no_gradient_and_all_masked_gives_zero() -> None:
    pred = PRED.clone().requires_grad_(True)
    masked_mse(pred, TARGET).backward()
    assert pred.grad is not None
    assert pred.grad[3, 0].item() == 0.0
    assert pred.grad[1, 0].item() == pytest.approx(2 * (2.0 - 4.0) / 3)

    pred = PRED.clone().requires_grad_(True)
    loss = masked_mae(pred, torch.full_like(PRED, -1.0))
    loss.backward()
    assert loss.item() == 0.0
    assert pred.grad is not None
    assert torch.equal(pred.grad, torch.zeros_like(PRED))


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"masked_mse: prediction has shape \[4, 1\], target \[4\]"
    ):
        masked_mse(PRED, TARGET[:, 0])
    with pytest.raises(ValueError, match=r"masked_mae: weight has shape \[4\]"):
        masked_mae(PRED, TARGET, WEIGHT[:, 0])
