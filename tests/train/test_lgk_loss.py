"""The LGK loss and the per-graph sum of the calibration study against hand-computed values."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from e2e_gnn.train.losses import graph_sum, lgk_loss  # noqa: E402


def test_lgk_is_zero_at_ratio_one() -> None:
    assert lgk_loss(torch.tensor([1.0, 1.0])).item() == 0.0


@pytest.mark.parametrize(
    ("ratio", "alpha", "beta", "expected"),
    [
        # beta |1 - r| + 1 - exp(-(1 - r)^2 / (2 alpha)), worked by hand:
        # 0.1 + 1 - exp(-0.01 / 0.02) = 1.1 - exp(-0.5) = 1.1 - 0.60653066
        (1.1, 0.01, 1.0, 0.49346934),
        # 2 * 0.5 + 1 - exp(-0.25 / 0.04) = 2 - exp(-6.25) = 2 - 0.00193045
        (0.5, 0.02, 2.0, 1.99806955),
        # beta = 0: the kernel alone, 1 - exp(-0.04 / 0.02) = 1 - exp(-2) = 0.86466472
        (1.2, 0.01, 0.0, 0.86466472),
    ],
)
def test_lgk_hand_computed(ratio: float, alpha: float, beta: float, expected: float) -> None:
    loss = lgk_loss(torch.tensor([ratio], dtype=torch.float64), alpha, beta)
    assert loss.item() == pytest.approx(expected, abs=1e-8)


def test_lgk_is_the_mean_over_jets() -> None:
    # (0 + 0.49346934) / 2
    loss = lgk_loss(torch.tensor([1.0, 1.1], dtype=torch.float64), 0.01, 1.0)
    assert loss.item() == pytest.approx(0.24673467, abs=1e-8)


def test_kernel_rewards_ratios_near_one() -> None:
    """The sign convention: with beta = 0 the loss grows with |1 - r| toward 1, so the
    gradient pulls r back to 1 from either side."""
    ratio = torch.tensor([0.9, 0.95, 1.05, 1.1], requires_grad=True)
    per_jet = [lgk_loss(r.unsqueeze(0), 0.01, 0.0).item() for r in ratio.detach()]
    assert per_jet[1] < per_jet[0] and per_jet[2] < per_jet[3]
    assert all(0 < v < 1 for v in per_jet)
    lgk_loss(ratio, 0.01, 0.0).backward()
    assert ratio.grad is not None
    assert (ratio.grad[:2] < 0).all() and (ratio.grad[2:] > 0).all()


def test_lgk_gradient_matches_formula() -> None:
    # d/dr [beta |1 - r| + 1 - exp(-(1 - r)^2 / 2a)] at r = 1.1, a = 0.01, beta = 1:
    # beta * sign(r - 1) + exp(-0.5) * (r - 1) / a = 1 + 0.60653066 * 10
    ratio = torch.tensor([1.1], dtype=torch.float64, requires_grad=True)
    lgk_loss(ratio, 0.01, 1.0).backward()
    assert ratio.grad is not None
    assert ratio.grad.item() == pytest.approx(1 + 10 * math.exp(-0.5), abs=1e-6)


@pytest.mark.parametrize(("alpha", "beta"), [(0.0, 1.0), (-1.0, 1.0), (0.01, -0.5)])
def test_lgk_refuses_bad_parameters(alpha: float, beta: float) -> None:
    with pytest.raises(ValueError, match="alpha > 0 and beta >= 0"):
        lgk_loss(torch.tensor([1.0]), alpha, beta)


def test_graph_sum() -> None:
    values = torch.tensor([1.0, 2.0, 3.0, 4.0])
    batch = torch.tensor([0, 0, 1, 2])
    assert graph_sum(values, batch).tolist() == [3.0, 3.0, 4.0]
    # a graph without nodes at the end sums to 0
    assert graph_sum(values, batch, 4).tolist() == [3.0, 3.0, 4.0, 0.0]
    columns = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    assert graph_sum(columns, batch).tolist() == [[3.0, 30.0], [3.0, 30.0], [4.0, 40.0]]


def test_graph_sum_refuses_mismatched_batch() -> None:
    with pytest.raises(ValueError, match=r"batch must be \[N\] with N = 3"):
        graph_sum(torch.ones(3), torch.zeros(4, dtype=torch.long))
