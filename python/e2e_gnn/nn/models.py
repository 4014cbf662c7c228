"""Complete taggers built from e2e_gnn layers, registered by name for checkpoints."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
from torch import Tensor

from e2e_gnn.nn import (
    ARMAConv,
    EdgeConv,
    global_max_pool,
    global_mean_max_add_pool,
    global_mean_pool,
)
from e2e_gnn.nn._checks import check_sizes
from e2e_gnn.nn.cnn3d import LayeredCNNTagger
from e2e_gnn.nn.frame_scaling import channel_rms
from e2e_gnn.nn.resnet import ResNet15Tagger


def _mlp(*widths: int, plain_last: bool = False) -> torch.nn.Sequential:
    """Linear layers of the given widths, each followed by a ReLU (but the last one with
    ``plain_last``, as torch_geometric's ``MLP``)."""
    layers: list[torch.nn.Module] = []
    for width_in, width_out in pairwise(widths):
        layers += [torch.nn.Linear(width_in, width_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*(layers[:-1] if plain_last else layers))


class EdgeConvTagger(torch.nn.Module):
    """A graph-level tagger: EdgeConv blocks, mean and max pooling per graph, an MLP head.

    The graph of each jet/event comes from the input ``edge_index`` (built by the graph
    builder recorded in the model's GraphSpec); the tagger returns one logit per class.
    Node features are standardised inside the model (buffers set by
    :meth:`set_feature_scaling` from training data), so a deployment feeds raw features.

    Args:
        in_features: node feature width F.
        hidden: width of every EdgeConv block and of the head.
        num_layers: number of EdgeConv blocks.
        num_classes: output logits per graph (1 for a binary tagger).
        aggr: EdgeConv aggregation (``"mean"``, ``"max"`` or ``"add"``).
        plain_last: torch_geometric's convention: each EdgeConv MLP ends with its Linear
            and the ReLU is applied after the aggregation. With ``"mean"``/``"add"``,
            EdgeConv then applies that last Linear per node instead of per edge (exact,
            k times fewer rows). ``False``: the MLPs end with a ReLU, the convention of
            checkpoints saved before this option existed (which load with ``False``). Both
            have the same parameters.

    Shapes:
        - **input:** x ``[N, F]``, edge_index ``[2, E]``, batch ``[N]``
        - **output:** logits ``[G, num_classes]``
    """

    def __init__(
        self,
        in_features: int,
        hidden: int = 64,
        num_layers: int = 3,
        num_classes: int = 1,
        aggr: str = "mean",
        plain_last: bool = True,
    ) -> None:
        super().__init__()
        check_sizes(
            "EdgeConvTagger",
            in_features=in_features,
            hidden=hidden,
            num_layers=num_layers,
            num_classes=num_classes,
        )
        self.hyperparameters: dict[str, Any] = {
            "in_features": in_features,
            "hidden": hidden,
            "num_layers": num_layers,
            "num_classes": num_classes,
            "aggr": aggr,
            "plain_last": plain_last,
        }
        self.plain_last = plain_last
        self.register_buffer("feature_mean", torch.zeros(in_features))
        self.register_buffer("feature_std", torch.ones(in_features))
        widths = [in_features] + [hidden] * num_layers
        self.convs = torch.nn.ModuleList(
            EdgeConv(_mlp(2 * width_in, hidden, hidden, plain_last=plain_last), aggr=aggr)
            for width_in in widths[:-1]
        )
        self.head = torch.nn.Sequential(
            _mlp(2 * hidden, hidden), torch.nn.Linear(hidden, num_classes)
        )

    def set_feature_scaling(self, x: Tensor) -> None:
        """Standardise node features with the mean and spread of ``x`` [N, F]."""
        self.feature_mean.copy_(x.mean(dim=0))
        self.feature_std.copy_(x.std(dim=0).clamp(min=1e-6))

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        x = (x - self.feature_mean) / self.feature_std
        for conv in self.convs:
            x = conv(x, edge_index)
            if self.plain_last:
                x = torch.relu(x)
        pooled = torch.cat([global_mean_pool(x, batch), global_max_pool(x, batch)], dim=-1)
        return self.head(pooled)


class FrameCNNTagger(torch.nn.Module):
    """A CNN tagger for detector frames (CMS E2E style): residual conv blocks with
    BatchNorm, global average pooling, a linear head.

    Each channel is divided by a fixed scale inside the model (buffers set by
    :meth:`set_channel_scaling` from training frames), so a deployment feeds raw frames.

    Args:
        in_channels: frame channels C (ECAL, HCAL, tracks, ...).
        width: channels of every block.
        num_blocks: residual blocks, each halving the frame size.
        num_classes: output logits per frame.

    Shapes:
        - **input:** frames ``[B, C, H, W]``
        - **output:** logits ``[B, num_classes]``
    """

    def __init__(
        self, in_channels: int, width: int = 16, num_blocks: int = 2, num_classes: int = 1
    ) -> None:
        super().__init__()
        check_sizes(
            "FrameCNNTagger",
            in_channels=in_channels,
            width=width,
            num_blocks=num_blocks,
            num_classes=num_classes,
        )
        self.hyperparameters: dict[str, Any] = {
            "in_channels": in_channels,
            "width": width,
            "num_blocks": num_blocks,
            "num_classes": num_classes,
        }
        self.register_buffer("channel_scale", torch.ones(in_channels))
        self.stem = torch.nn.Conv2d(in_channels, width, kernel_size=3, padding=1)
        self.blocks = torch.nn.ModuleList(
            torch.nn.Sequential(
                torch.nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False),
                torch.nn.BatchNorm2d(width),
                torch.nn.ReLU(),
                torch.nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False),
                torch.nn.BatchNorm2d(width),
            )
            for _ in range(num_blocks)
        )
        self.head = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(width, num_classes))

    def set_channel_scaling(self, frames: Tensor) -> None:
        """Scale each channel by the RMS of its non-zero pixels in ``frames`` [B, C, H, W]
        (:func:`~e2e_gnn.nn.frame_scaling.channel_rms`)."""
        self.channel_scale.copy_(channel_rms(frames))

    def forward(self, frames: Tensor) -> Tensor:
        x = torch.relu(self.stem(frames / self.channel_scale[:, None, None]))
        for block in self.blocks:
            x = torch.nn.functional.max_pool2d(torch.relu(x + block(x)), kernel_size=2)
        return self.head(x.mean(dim=(2, 3)))


class ARMATagger(torch.nn.Module):
    """The ARMAConv GNN of the ATLAS displaced-photon study (seed 000): BatchNorm of the
    input node features, three ARMAConv layers (each ``stacks`` parallel stacks), the
    ``[mean || max || add]`` readout per graph, a dense layer with dropout and one logit.

    The input BatchNorm standardises the raw node features (no scaling buffers needed);
    in inference mode it is a fixed affine map, exported as such.

    Args:
        in_features: node feature width F.
        hidden: width of every ARMAConv layer and of the dense layer.
        stacks: parallel stacks K of every ARMAConv.
        num_layers: ARMAConv layers (the study: 3).
        dropout: dropout before the last linear layer.
        num_classes: output logits per graph.

    Shapes:
        - **input:** x ``[N, F]``, edge_index ``[2, E]``, batch ``[N]``
        - **output:** logits ``[G, num_classes]``
    """

    def __init__(
        self,
        in_features: int,
        hidden: int = 64,
        stacks: int = 2,
        num_layers: int = 3,
        dropout: float = 0.2,
        num_classes: int = 1,
    ) -> None:
        super().__init__()
        check_sizes(
            "ARMATagger",
            in_features=in_features,
            hidden=hidden,
            stacks=stacks,
            num_layers=num_layers,
            num_classes=num_classes,
        )
        self.hyperparameters: dict[str, Any] = {
            "in_features": in_features,
            "hidden": hidden,
            "stacks": stacks,
            "num_layers": num_layers,
            "dropout": dropout,
            "num_classes": num_classes,
        }
        self.norm = torch.nn.BatchNorm1d(in_features)
        widths = [in_features] + [hidden] * num_layers
        self.convs = torch.nn.ModuleList(
            ARMAConv(width_in, hidden, num_stacks=stacks) for width_in in widths[:-1]
        )
        self.head = torch.nn.Sequential(
            torch.nn.Linear(3 * hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        x = self.norm(x)
        for conv in self.convs:
            x = conv(x, edge_index)
        return self.head(global_mean_max_add_pool(x, batch))


class Scores(torch.nn.Module):
    """Wraps a logit model so that it returns probabilities: what gets exported."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: Tensor) -> Tensor:
        logits = self.model(*inputs)
        if logits.size(-1) == 1:
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=-1)


# Hyperparameters added after checkpoints were first written, with the value that a
# checkpoint without them was trained with.
LEGACY_HYPERPARAMETERS: dict[str, dict[str, Any]] = {"EdgeConvTagger": {"plain_last": False}}

MODELS: dict[str, type[torch.nn.Module]] = {
    "EdgeConvTagger": EdgeConvTagger,
    "FrameCNNTagger": FrameCNNTagger,
    "ARMATagger": ARMATagger,
    "LayeredCNNTagger": LayeredCNNTagger,
    "ResNet15Tagger": ResNet15Tagger,
}


def build_model(model_class: str, hyperparameters: dict[str, Any]) -> torch.nn.Module:
    """Instantiate a registered model class by name (as stored in checkpoints); a
    hyperparameter of :data:`LEGACY_HYPERPARAMETERS` that is missing takes the value that
    checkpoints written before it existed were trained with."""
    if model_class not in MODELS:
        msg = f"unknown model class {model_class!r}; known: {sorted(MODELS)}"
        raise ValueError(msg)
    legacy = LEGACY_HYPERPARAMETERS.get(model_class, {})
    return MODELS[model_class](**{**legacy, **hyperparameters})
