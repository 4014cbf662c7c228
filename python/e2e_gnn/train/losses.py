r"""Training losses of the node-level studies (torch).

Masked losses (JetPointNet, seed 004): a target equal to :data:`MASKED` (-1) marks a point
without a label (a track point, or a cell whose truth is unknown); it contributes nothing
to the loss nor to its gradient. Every masked loss is a weighted mean over the kept points,

.. math::
    L = \frac{\sum_i m_i w_i \ell_i}{\sum_i m_i w_i}, \quad m_i = [t_i \ne -1],

with :math:`w_i = 1` or a per-point weight (the energy-weighted variant: :math:`w_i` the
point's energy), and 0 when no point is kept (a batch of masked points only).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["MASKED", "masked_bce", "masked_mae", "masked_mse"]

#: the target of a point without a label
MASKED = -1.0
#: probabilities are clamped to [EPSILON, 1 - EPSILON] before the logarithms (Keras' value)
EPSILON = 1e-7


def _masked_mean(name: str, per_point: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
    keep = target != MASKED
    if weight is None:
        w = keep.to(per_point.dtype)
    else:
        if weight.shape != target.shape:
            msg = f"{name}: weight has shape {list(weight.shape)}, target {list(target.shape)}"
            raise ValueError(msg)
        w = torch.where(keep, weight, torch.zeros_like(weight))
    total = torch.where(keep, per_point, torch.zeros_like(per_point)) * w
    return total.sum() / w.sum().clamp(min=torch.finfo(w.dtype).tiny)


def _check(name: str, pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        msg = (
            f"{name}: prediction has shape {list(pred.shape)}, target {list(target.shape)}; "
            "they must match (one row per point)"
        )
        raise ValueError(msg)


def masked_mse(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean of ``(pred - target)**2`` over the points whose target is not -1 (weighted by
    ``weight``, the same shape, when given)."""
    _check("masked_mse", pred, target)
    return _masked_mean("masked_mse", (pred - target).pow(2), target, weight)


def masked_mae(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean of ``|pred - target|`` over the points whose target is not -1 (weighted by
    ``weight`` when given)."""
    _check("masked_mae", pred, target)
    return _masked_mean("masked_mae", (pred - target).abs(), target, weight)


def masked_bce(prob: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy ``-(t log p + (1 - t) log(1 - p))`` of probabilities ``prob``
    (clamped to [1e-7, 1 - 1e-7]) against targets in [0, 1], over the points whose target
    is not -1 (weighted by ``weight`` when given)."""
    _check("masked_bce", prob, target)
    p = prob.clamp(EPSILON, 1 - EPSILON)
    per_point = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))
    return _masked_mean("masked_bce", per_point, target, weight)


# --- constituent calibration (seed 001): graph-level losses of node-level predictions ---


def graph_sum(values: Tensor, batch: Tensor, num_graphs: int | None = None) -> Tensor:
    """Per-graph sums of per-node ``values`` [N] or [N, C] -> [G] or [G, C] (graph g sums
    the nodes with ``batch == g``; ``num_graphs`` defaults to ``batch.max() + 1``). The
    calibrated jet energy is ``graph_sum(factor * energy, batch)``."""
    from e2e_gnn.nn.scatter import scatter  # here: this section is appended to the module

    if batch.dim() != 1 or batch.size(0) != values.size(0):
        msg = (
            f"graph_sum: batch must be [N] with N = {values.size(0)} (rows of values), got "
            f"shape {list(batch.shape)}"
        )
        raise ValueError(msg)
    size = int(batch.max()) + 1 if num_graphs is None and batch.numel() else num_graphs or 0
    return scatter(values, batch, dim=0, dim_size=size, reduce="sum")


def lgk_loss(ratio: Tensor, alpha: float = 0.01, beta: float = 1.0) -> Tensor:
    r"""The LGK (linear + Gaussian kernel) loss of the constituent-calibration study on the
    jet energy ratios :math:`r = E_\mathrm{pred} / E_\mathrm{true}` [G], mean over jets:

    .. math::
        L = \frac{1}{G} \sum_g \Big[\beta\,|1 - r_g| + 1 - e^{-(1 - r_g)^2 / (2\alpha)}\Big].

    Sign convention: the study writes the kernel as :math:`+e^{-(1-r)^2/2\alpha}`, a term
    that is largest at :math:`r = 1` and would push the ratios away from 1; the kernel here
    is *subtracted* (a reward for :math:`r` near 1) and offset by 1, so that every term is
    >= 0 and 0 exactly at :math:`r = 1`. As in the study, ``alpha`` divides the squared
    deviation directly: the kernel is a Gaussian of standard deviation
    :math:`\sqrt{\alpha}` in :math:`1 - r` (0.1 for the default 0.01). The linear term
    keeps a gradient far from 1, where the kernel's vanishes.
    """
    if not (alpha > 0 and beta >= 0):
        msg = f"lgk_loss needs alpha > 0 and beta >= 0, got alpha={alpha!r}, beta={beta!r}"
        raise ValueError(msg)
    deviation = 1.0 - ratio
    return (beta * deviation.abs() + 1.0 - torch.exp(-deviation.pow(2) / (2.0 * alpha))).mean()
