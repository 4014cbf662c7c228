"""JetPointNet (seed 004): PointNet segmentation of the calorimeter cells around a track.

Ragged throughout: the clouds of a batch are concatenated along the point axis and every
per-cloud reduction is a max-pool through ``batch`` (:func:`~e2e_gnn.nn.global_max_pool`,
exact and dynamic in the ONNX export), so there is no maximum cloud length and no padding.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_sizes
from e2e_gnn.nn.pool import global_max_pool
from e2e_gnn.spec import TensorSpec, node_output

__all__ = ["JetPointNet", "TNet", "orthogonality_penalty", "tssr"]


def tssr(x: Tensor) -> Tensor:
    r"""The two-sided square-root activation of JetPointNet (its ``TSSR_Activation``):

    .. math::
        \mathrm{TSSR}(x) = \begin{cases} x & |x| \le 1 \\
        \operatorname{sign}(x)\,(2\sqrt{|x|} - 1) & |x| > 1 \end{cases}

    Linear for small inputs, square-root growth for large ones; continuous with a
    continuous first derivative at :math:`|x| = 1` (value :math:`\pm 1`, slope 1), odd.
    """
    magnitude = x.abs()
    inner = magnitude <= 1
    # sqrt of 1 inside: its gradient at 0 would be inf, and inf * 0 is NaN in backward
    root = 2 * torch.sqrt(torch.where(inner, torch.ones_like(x), magnitude)) - 1
    return torch.where(inner, x, torch.sign(x) * root)


def orthogonality_penalty(transform: Tensor) -> Tensor:
    r"""PointNet's regulariser of a feature transform :math:`A` ``[G, k, k]``: the mean over
    clouds of :math:`\lVert I - A A^\top \rVert_F^2` (0 for orthogonal transforms)."""
    k = transform.size(-1)
    identity = torch.eye(k, dtype=transform.dtype, device=transform.device)
    residual = identity - transform @ transform.transpose(1, 2)
    return residual.pow(2).sum(dim=(1, 2)).mean()


def _mlp(*widths: int, last_activation: bool = True) -> torch.nn.Sequential:
    """Shared per-point (or per-cloud) layers: Linear + ReLU, the last ReLU optional."""
    layers: list[torch.nn.Module] = []
    for width_in, width_out in pairwise(widths):
        layers += [torch.nn.Linear(width_in, width_out), torch.nn.ReLU()]
    if not last_activation:
        layers.pop()
    return torch.nn.Sequential(*layers)


class TNet(torch.nn.Module):
    """PointNet's transform net: per-point MLP, max-pool per cloud, MLP to a ``k x k``
    matrix per cloud, initialised to the identity (last layer zero, identity added).

    Args:
        k: width of the points it transforms.
        width: width of the per-point MLP (its second layer has twice) and of the head.

    Shapes:
        - **input:** h ``[N, k]``, batch ``[N]``
        - **output:** transforms ``[G, k, k]``
    """

    def __init__(self, k: int, width: int) -> None:
        super().__init__()
        self.k = k
        self.points = _mlp(k, width, 2 * width)
        self.head = _mlp(2 * width, width, k * k, last_activation=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        last = self.head[-1]
        assert isinstance(last, torch.nn.Linear)
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)

    def forward(self, h: Tensor, batch: Tensor) -> Tensor:
        pooled = global_max_pool(self.points(h), batch)
        identity = torch.eye(self.k, dtype=h.dtype, device=h.device)
        return self.head(pooled).view(-1, self.k, self.k) + identity

    def __repr__(self) -> str:
        return f"{type(self).__name__}(k={self.k})"


def _apply(h: Tensor, transforms: Tensor, batch: Tensor) -> Tensor:
    """``h[i] @ transforms[batch[i]]`` for every point i."""
    return (h.unsqueeze(1) @ transforms.index_select(0, batch)).squeeze(1)


class JetPointNet(torch.nn.Module):
    r"""PointNet segmentation with JetPointNet's energy bypass (seed 004, after Qi et al.,
    arXiv:1612.00593): predicts the energy the focused track's particle left in every
    point of its cloud.

    Per point :math:`i` of cloud :math:`g` (features standardised inside the model from the
    training data, :meth:`set_feature_scaling`):

    .. math::
        h_i &= \mathrm{MLP}_1(x_i T_g), \quad f_i = h_i A_g, \quad
        \gamma_g = \max_{j \in g} \mathrm{MLP}_2(f_j) \\
        \hat E_i &= \mathrm{TSSR}\big(\mathrm{MLP}_3([f_i \,\|\, \gamma_g])\big) \cdot E_i

    with :math:`T_g` the input transform and :math:`A_g` the feature transform of the cloud
    (:class:`TNet`), :math:`E_i` the point's raw input energy (column ``energy_index``)
    and :func:`tssr` the activation. :meth:`forward_with_regularization` also returns
    :func:`orthogonality_penalty` of :math:`A` for the training loss.

    Args:
        in_features: point feature width F.
        energy_index: the column of ``x`` holding the point's energy (the bypass).
        width: width of the per-point feature :math:`f` (and of the transform nets).
        global_width: width of the global feature :math:`\gamma`.
        input_transform: learn the input transform :math:`T` (else the identity).
        feature_transform: learn the feature transform :math:`A` (else the identity;
            the penalty is then 0).

    Shapes:
        - **input:** x ``[N, F]``, edge_index ``[2, E]`` (unused: PointNet has no edges),
          batch ``[N]``
        - **output:** predicted focused-particle energy per point ``[N, 1]``
    """

    spec_outputs: tuple[TensorSpec, ...] = (
        node_output(
            "energy",
            1,
            "energy (GeV) of the focused track's particle in the point: TSSR(head) * energy",
        ),
    )

    def __init__(
        self,
        in_features: int,
        energy_index: int,
        width: int = 64,
        global_width: int = 256,
        input_transform: bool = True,
        feature_transform: bool = True,
    ) -> None:
        super().__init__()
        check_sizes("JetPointNet", in_features=in_features, width=width, global_width=global_width)
        if not 0 <= energy_index < in_features:
            msg = (
                f"JetPointNet: energy_index must be a column of x, in [0, {in_features}), "
                f"got {energy_index!r}"
            )
            raise ValueError(msg)
        self.hyperparameters: dict[str, Any] = {
            "in_features": in_features,
            "energy_index": energy_index,
            "width": width,
            "global_width": global_width,
            "input_transform": input_transform,
            "feature_transform": feature_transform,
        }
        self.energy_index = energy_index
        self.register_buffer("feature_mean", torch.zeros(in_features))
        self.register_buffer("feature_std", torch.ones(in_features))
        self.input_tnet = TNet(in_features, width) if input_transform else None
        self.point_mlp = _mlp(in_features, width, width)
        self.feature_tnet = TNet(width, width) if feature_transform else None
        self.global_mlp = _mlp(width, 2 * width, global_width)
        self.head = _mlp(width + global_width, 2 * width, width, 1, last_activation=False)

    def set_feature_scaling(self, x: Tensor) -> None:
        """Standardise the point features with the mean and spread of ``x`` [N, F]."""
        self.feature_mean.copy_(x.mean(dim=0))
        self.feature_std.copy_(x.std(dim=0).nan_to_num(1.0).clamp(min=1e-6))

    def forward_with_regularization(self, x: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        """(energy per point ``[N, 1]``, orthogonality penalty of the feature transform)."""
        energy = x[:, self.energy_index : self.energy_index + 1]
        h = (x - self.feature_mean) / self.feature_std
        if self.input_tnet is not None:
            h = _apply(h, self.input_tnet(h, batch), batch)
        f = self.point_mlp(h)
        penalty = f.new_zeros(())
        if self.feature_tnet is not None:
            transforms = self.feature_tnet(f, batch)
            f = _apply(f, transforms, batch)
            penalty = orthogonality_penalty(transforms)
        cloud = global_max_pool(self.global_mlp(f), batch).index_select(0, batch)
        out = tssr(self.head(torch.cat([f, cloud], dim=-1)))
        return out * energy, penalty

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        del edge_index  # a graph-model input like every other's; PointNet uses no edges
        return self.forward_with_regularization(x, batch)[0]
