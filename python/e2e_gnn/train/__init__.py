"""Training (needs torch): a small trainer, checkpoints, metrics and plots, and the
``e2e-gnn train`` command that trains taggers on frames files.

The names below load their module (and torch) on first use, so that ``e2e_gnn.train.cli``
can be added to the app without importing torch.
"""

from importlib import import_module
from typing import Any

_HOMES = {
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "roc_auc": "metrics",
    "roc_curve": "metrics",
    "predict_logits": "trainer",
    "train": "trainer",
}

__all__ = ["load_checkpoint", "predict_logits", "roc_auc", "roc_curve", "save_checkpoint", "train"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return __all__
