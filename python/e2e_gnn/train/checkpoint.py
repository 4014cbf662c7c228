"""Checkpoints: weights plus everything needed to rebuild and export the model."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from e2e_gnn.nn.models import build_model
from e2e_gnn.spec import FRAME_INPUTS, FRAME_OUTPUTS, GraphSpec, ModelSpec


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    model_class: str,
    graph: GraphSpec | None,
    provenance: dict[str, Any],
    *,
    frame: dict[str, Any] | None = None,
) -> None:
    """Save a graph model (``graph``: how its graphs are built) or a frame model (``frame``:
    ``{"shape": [C, H, W], "channels": [...]}``, the ModelSpec's frame spec)."""
    if (graph is None) == (frame is None):
        msg = "save_checkpoint needs either a graph spec (graph model) or a frame spec"
        raise ValueError(msg)
    torch.save(
        {
            "model_class": model_class,
            "hyperparameters": model.hyperparameters,
            "state_dict": model.state_dict(),
            "graph": None if graph is None else asdict(graph),
            "frame": frame,
            "provenance": provenance,
        },
        path,
    )


def load_checkpoint(path: str | Path, name: str | None = None) -> tuple[torch.nn.Module, ModelSpec]:
    """The model (eval mode) and the spec its export will carry."""
    path = Path(path)
    if not path.is_file():
        msg = f"checkpoint {str(path)!r} does not exist"
        raise FileNotFoundError(msg)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a file that is not a checkpoint
        msg = f"cannot read {str(path)!r} as an e2e_gnn checkpoint: {err}"
        raise ValueError(msg) from err
    missing = {"model_class", "hyperparameters", "state_dict", "graph"} - set(data)
    if missing:
        msg = f"checkpoint {str(path)!r} lacks {sorted(missing)}: not saved by e2e_gnn"
        raise ValueError(msg)
    # checkpoints written before frame models were supported have no "frame" entry
    graph, frame = data["graph"], data.get("frame")
    if (graph is None) == (frame is None):
        msg = f"checkpoint {str(path)!r} must hold exactly one of a graph spec and a frame spec"
        raise ValueError(msg)
    model = build_model(data["model_class"], data["hyperparameters"])
    model.load_state_dict(data["state_dict"])
    tensors = {} if frame is None else {"inputs": FRAME_INPUTS, "outputs": FRAME_OUTPUTS}
    spec = ModelSpec(
        name=name or path.stem,
        model_class=data["model_class"],
        hyperparameters=data["hyperparameters"],
        graph=None if graph is None else GraphSpec.from_dict(graph),
        frame=frame,
        provenance={**data.get("provenance", {}), "checkpoint": path.name},
        **tensors,
    )
    return model.eval(), spec
