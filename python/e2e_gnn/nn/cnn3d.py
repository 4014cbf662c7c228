"""The 3D CNN of the ATLAS displaced-photon study (seed 000) for layered calorimeter images."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_sizes
from e2e_gnn.nn.frame_scaling import channel_rms


class LayeredCNNTagger(torch.nn.Module):
    """The study's Keras stack on ``[B, C, L, H, W]`` images (15 x 15 eta-phi bins per layer):
    two 3x3x3 convolutions, max-pooling 2x2 in eta-phi, a third convolution, max-pooling
    3x3 in eta-phi, then a dense layer and one logit. Convolutions keep the size (padding 1)
    and never pool over layers, as the study's (7, 7, 12) and (2, 2, 12) outputs show.

    Channels are divided by fixed scales inside the model (:meth:`set_channel_scaling`), so
    a deployment feeds raw images.

    Args:
        in_channels: image channels C (1 for the energy images of ``frames --kind layered``).
        layers: depth layers L.
        height, width: eta and phi bins (the dense layer's width depends on them).
        width_channels: feature maps of every convolution (the study: 60).
        dense: units of the dense layer (the study: 100).
        batch_norm: a BatchNorm after the first convolution (the study's failed variant,
            kept to measure it: docs/physics.md).
        num_classes: output logits per image.

    Shapes:
        - **input:** frames ``[B, C, L, H, W]``
        - **output:** logits ``[B, num_classes]``
    """

    def __init__(
        self,
        in_channels: int,
        layers: int,
        height: int = 15,
        width: int = 15,
        width_channels: int = 60,
        dense: int = 100,
        batch_norm: bool = False,
        num_classes: int = 1,
    ) -> None:
        super().__init__()
        check_sizes(
            "LayeredCNNTagger",
            in_channels=in_channels,
            layers=layers,
            height=height,
            width=width,
            width_channels=width_channels,
            dense=dense,
            num_classes=num_classes,
        )
        self.hyperparameters: dict[str, Any] = {
            "in_channels": in_channels,
            "layers": layers,
            "height": height,
            "width": width,
            "width_channels": width_channels,
            "dense": dense,
            "batch_norm": batch_norm,
            "num_classes": num_classes,
        }
        pooled = ((height // 2) // 3) * ((width // 2) // 3)
        if pooled == 0:
            msg = f"LayeredCNNTagger needs images of at least 6 x 6 bins, got {height} x {width}"
            raise ValueError(msg)
        self.register_buffer("channel_scale", torch.ones(in_channels))
        c = width_channels

        def conv(c_in: int) -> torch.nn.Conv3d:
            return torch.nn.Conv3d(c_in, c, kernel_size=3, padding=1)

        norm: list[torch.nn.Module] = [torch.nn.BatchNorm3d(c)] if batch_norm else []
        self.features = torch.nn.Sequential(
            conv(in_channels),
            *norm,
            torch.nn.ReLU(),
            conv(c),
            torch.nn.ReLU(),
            torch.nn.MaxPool3d(kernel_size=(1, 2, 2)),
            conv(c),
            torch.nn.ReLU(),
            torch.nn.MaxPool3d(kernel_size=(1, 3, 3)),
        )
        self.head = torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(c * layers * pooled, dense),
            torch.nn.ReLU(),
            torch.nn.Linear(dense, num_classes),
        )

    def set_channel_scaling(self, frames: Tensor) -> None:
        """Scale each channel by the RMS of its non-zero pixels in ``frames`` [B, C, L, H, W]."""
        self.channel_scale.copy_(channel_rms(frames))

    def forward(self, frames: Tensor) -> Tensor:
        return self.head(self.features(frames / self.channel_scale[:, None, None, None]))
