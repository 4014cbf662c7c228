"""What `e2e-gnn train` can train and with which settings (no torch: the CLI reads these)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "LAYERED_ONLY",
    "MODEL_KINDS",
    "NODE_LEVEL",
    "NODE_LOSSES",
    "PLAIN_ONLY",
    "VALIDATION_FRACTION",
    "TrainSettings",
]

#: model kinds and the names plots and tables give them
MODEL_KINDS = {
    "edgeconv": "EdgeConv GNN",
    "cnn": "CNN",
    "cnn3d": "3D CNN",
    "arma": "ARMAConv GNN",
    "resnet15": "ResNet-15",
    "jetpointnet": "JetPointNet",
    "calibration": "Calibration GNN",
}
#: the kinds that take layered frames [B, C, L, H, W] only, and those that take plain ones
LAYERED_ONLY = ("cnn3d",)
PLAIN_ONLY = ("cnn", "resnet15")
#: the node-level kinds (e2e_gnn.train.node_level): they train on graphs with per-node
#: targets, not on frames; each with its losses, the first the default
NODE_LOSSES = {
    "jetpointnet": ("mse", "mae", "weighted_mse"),
    "calibration": ("lgk", "mse"),
}
NODE_LEVEL = tuple(NODE_LOSSES)
#: fraction of the events held out for validation, with all their frames
VALIDATION_FRACTION = 0.3
_OWN_SETTINGS = {
    "edgeconv": ("hidden", "layers", "knn"),
    "cnn": ("width", "blocks"),
    "cnn3d": ("width", "dense", "batch_norm"),
    "arma": ("hidden", "stacks", "same_layer", "adjacent_layer"),
    "resnet15": ("width",),
    "jetpointnet": ("hidden", "global_width", "loss", "regularization"),
    "calibration": ("hidden", "layers", "loss"),
}


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser settings shared by every kind, then each kind's architecture.

    The defaults train both kinds on the 721 labelled 125x125 jets of 2,000 tau events
    in about 45 s on 2 cores; a CNN twice as wide costs 5x more (AUC 0.962 vs 0.961).
    """

    epochs: int = 5
    lr: float = 3e-3
    batch_size: int = 64
    seed: int = 0
    hidden: int = 32
    layers: int = 2
    knn: int = 16
    width: int = 8
    blocks: int = 2
    dense: int = 32
    batch_norm: bool = False
    stacks: int = 2
    # threshold-graph edges in normalised (row, col) units: one bin of a 15-bin image is 1/7
    same_layer: float = 0.3
    adjacent_layer: float = 0.3
    # node-level kinds: the loss ("": the kind's default, the first of NODE_LOSSES)
    loss: str = ""
    global_width: int = 128
    # weight of the feature transform's orthogonality penalty (PointNet: 0.001)
    regularization: float = 1e-3
    # frame kinds: classes reweighted to a common (pT, eta) distribution
    # (e2e_gnn.train.reweight; "pt,eta" or "pt:8,eta:4"; "": unweighted)
    reweight: str = ""

    def of(self, kind: str) -> dict[str, Any]:
        """The settings that matter for ``kind``."""
        others = {name for own in _OWN_SETTINGS.values() for name in own}
        return {
            k: v for k, v in asdict(self).items() if k not in others or k in _OWN_SETTINGS[kind]
        }
