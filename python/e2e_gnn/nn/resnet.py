"""ResNet-15 of the CMS End-to-End studies, for 125 x 125 multichannel jet frames."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn._checks import check_sizes
from e2e_gnn.nn.frame_scaling import channel_rms


class _ResBlock(torch.nn.Module):
    """Two 3x3 convolutions and a skip; a block that widens the maps also halves the
    frame, its skip then a strided 1x1 convolution (as in the E2E code)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        stride = 2 if c_out > c_in else 1
        self.conv1 = torch.nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1)
        self.conv2 = torch.nn.Conv2d(c_out, c_out, kernel_size=3, padding=1)
        self.shortcut = (
            torch.nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride)
            if stride > 1 or c_in != c_out
            else torch.nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(torch.relu(self.conv1(x)))
        return torch.relu(out + self.shortcut(x))


class ResNet15Tagger(torch.nn.Module):
    """The E2E ResNet-15 (Andrews et al., CMS quark/gluon and tau studies): a 7x7
    convolution, 2x2 max-pooling, ``blocks`` residual blocks at ``maps[0]``, one block
    widening to ``maps[1]`` with stride 2, ``blocks`` more, global max-pooling and a linear
    head. With 3 + 1 + 3 blocks of two convolutions each plus the first: 15 layers. No
    BatchNorm, as in the original.

    Channels are divided by fixed scales inside the model (:meth:`set_channel_scaling`).

    Args:
        in_channels: frame channels C.
        blocks: residual blocks before and after the widening one (3: ResNet-15).
        maps: feature maps of the two stages (the E2E studies: 16, 32).
        num_classes: output logits per frame.

    Shapes:
        - **input:** frames ``[B, C, H, W]`` (125 x 125 in the E2E studies)
        - **output:** logits ``[B, num_classes]``
    """

    def __init__(
        self,
        in_channels: int,
        blocks: int = 3,
        maps: tuple[int, int] | list[int] = (16, 32),
        num_classes: int = 1,
    ) -> None:
        super().__init__()
        first, second = maps
        check_sizes(
            "ResNet15Tagger",
            in_channels=in_channels,
            blocks=blocks,
            **{"maps[0]": first, "maps[1]": second},
            num_classes=num_classes,
        )
        self.hyperparameters: dict[str, Any] = {
            "in_channels": in_channels,
            "blocks": blocks,
            "maps": [first, second],
            "num_classes": num_classes,
        }
        self.register_buffer("channel_scale", torch.ones(in_channels))
        self.conv0 = torch.nn.Conv2d(in_channels, first, kernel_size=7, padding=1)
        self.stages = torch.nn.Sequential(
            *(_ResBlock(first, first) for _ in range(blocks)),
            _ResBlock(first, second),
            *(_ResBlock(second, second) for _ in range(blocks)),
        )
        self.head = torch.nn.Linear(second, num_classes)

    def set_channel_scaling(self, frames: Tensor) -> None:
        """Scale each channel by the RMS of its non-zero pixels in ``frames`` [B, C, H, W]."""
        self.channel_scale.copy_(channel_rms(frames))

    def forward(self, frames: Tensor) -> Tensor:
        x = torch.relu(self.conv0(frames / self.channel_scale[:, None, None]))
        x = self.stages(torch.nn.functional.max_pool2d(x, kernel_size=2))
        return self.head(x.amax(dim=(2, 3)))
