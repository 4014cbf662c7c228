"""Checkpoints: weights plus everything needed to rebuild and export the model."""

from __future__ import annotations

import inspect
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from e2e_gnn.nn.calibration import CalibrationGNN
from e2e_gnn.nn.jetpointnet import JetPointNet
from e2e_gnn.nn.models import LEGACY_HYPERPARAMETERS, MODELS
from e2e_gnn.spec import FRAME_OUTPUTS, GraphSpec, ModelSpec, frame_inputs

#: every model class a checkpoint may name: the taggers of e2e_gnn.nn.models and the
#: node-level models
CHECKPOINT_MODELS: dict[str, type[torch.nn.Module]] = {
    **MODELS,
    "JetPointNet": JetPointNet,
    "CalibrationGNN": CalibrationGNN,
}


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
    ``{"shape": [C, H, W] or [C, L, H, W], "channels": [...]}``, the ModelSpec's frame spec)."""
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
    """The model (eval mode) and the spec its export will carry.

    Raises FileNotFoundError, or ValueError naming the file and what is wrong: not a torch
    file, a pickled object rather than a checkpoint (loading is ``weights_only``, which
    never runs code from the file), entries missing, unknown hyperparameters, weights that
    do not fit the model.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"checkpoint {str(path)!r} does not exist"
        raise FileNotFoundError(msg)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        msg = (
            f"{str(path)!r} is not an e2e_gnn checkpoint: it holds Python objects beyond "
            "tensors and plain containers (a pickled model?), or is not a torch file; "
            "write checkpoints with `e2e-gnn train` or e2e_gnn.train.save_checkpoint"
        )
        raise ValueError(msg) from err
    except Exception as err:  # torch raises many types for a file that is not a checkpoint
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        msg = (
            f"cannot read {str(path)!r} as an e2e_gnn checkpoint ({type(err).__name__}"
            f"{': ' + first if first else ''}); write checkpoints with `e2e-gnn train`"
        )
        raise ValueError(msg) from err
    if not isinstance(data, dict):
        msg = (
            f"{str(path)!r} holds a {type(data).__name__}, not an e2e_gnn checkpoint (a dict "
            "of model_class, hyperparameters, state_dict and graph or frame spec)"
        )
        raise ValueError(msg)
    missing = {"model_class", "hyperparameters", "state_dict", "graph"} - set(data)
    if missing:
        msg = f"checkpoint {str(path)!r} lacks {sorted(missing)}: not saved by e2e_gnn"
        raise ValueError(msg)
    # checkpoints written before frame models were supported have no "frame" entry
    graph, frame = data["graph"], data.get("frame")
    if (graph is None) == (frame is None):
        msg = f"checkpoint {str(path)!r} must hold exactly one of a graph spec and a frame spec"
        raise ValueError(msg)
    model = _build(path, data["model_class"], data["hyperparameters"])
    try:
        model.load_state_dict(data["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as err:
        lines = str(err).strip().splitlines()
        detail = " ".join(line.strip() for line in lines[:3])
        msg = f"the weights in checkpoint {str(path)!r} do not fit {data['model_class']}: {detail}"
        raise ValueError(msg) from err
    tensors = (
        {} if frame is None else {"inputs": frame_inputs(frame["shape"]), "outputs": FRAME_OUTPUTS}
    )
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


def _build(path: Path, model_class: object, hyperparameters: object) -> torch.nn.Module:
    """The checkpoint's model, or a ValueError naming what its entries get wrong."""
    if not isinstance(model_class, str) or model_class not in CHECKPOINT_MODELS:
        known = sorted(CHECKPOINT_MODELS)
        msg = f"checkpoint {str(path)!r}: unknown model class {model_class!r}; known: {known}"
        raise ValueError(msg)
    if not isinstance(hyperparameters, dict) or not all(
        isinstance(k, str) for k in hyperparameters
    ):
        msg = (
            f"checkpoint {str(path)!r}: hyperparameters must be a dict by name, got "
            f"{type(hyperparameters).__name__}"
        )
        raise ValueError(msg)
    # checkpoints written before a hyperparameter existed: the value they were trained with
    hyperparameters = {**LEGACY_HYPERPARAMETERS.get(model_class, {}), **hyperparameters}
    signature = inspect.signature(CHECKPOINT_MODELS[model_class])
    unknown = sorted(set(hyperparameters) - set(signature.parameters))
    if unknown:
        msg = (
            f"checkpoint {str(path)!r}: {model_class} takes no hyperparameter(s) {unknown}; "
            f"it takes {list(signature.parameters)}"
        )
        raise ValueError(msg)
    try:
        signature.bind(**hyperparameters)
    except TypeError as err:
        msg = f"checkpoint {str(path)!r}: hyperparameters of {model_class}: {err}"
        raise ValueError(msg) from err
    try:
        return CHECKPOINT_MODELS[model_class](**hyperparameters)
    except (TypeError, ValueError) as err:  # a hyperparameter of the wrong type or value
        msg = f"checkpoint {str(path)!r}: cannot build {model_class}: {err}"
        raise ValueError(msg) from err
