"""Plots people would rather look at than read: ROC curves and losses per epoch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from e2e_gnn.train.metrics import rejection_at, roc_auc, roc_curve

if TYPE_CHECKING:
    from e2e_gnn.train.trainer import History


def plot_roc(labels: np.ndarray, scores: dict[str, np.ndarray], path: str | Path) -> None:
    """Signal efficiency vs background rejection, one curve per named score set."""
    figure, axes = plt.subplots(figsize=(5, 4.5))
    for name, values in scores.items():
        fpr, tpr = roc_curve(labels, values)
        axes.plot(fpr, tpr, label=f"{name}, AUC = {roc_auc(labels, values):.3f}")
    axes.plot([0, 1], [0, 1], ls=":", color="grey", label="random")
    axes.set(xlabel="background efficiency", ylabel="signal efficiency", xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_rejection(labels: np.ndarray, scores: dict[str, np.ndarray], path: str | Path) -> None:
    """The field's ROC convention: background rejection (1 / background efficiency, log
    scale) against signal efficiency, one curve per named score set."""
    figure, axes = plt.subplots(figsize=(5, 4.5))
    for name, values in scores.items():
        fpr, tpr = roc_curve(labels, values)
        passed = fpr > 0
        at_half = rejection_at(labels, values, 0.5)
        axes.plot(tpr[passed], 1 / fpr[passed], label=f"{name}, R(50 %) = {at_half:.3g}")
    axes.set(xlabel="signal efficiency", ylabel="background rejection", yscale="log", xlim=(0, 1))
    axes.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_losses(
    histories: dict[str, History], path: str | Path, ylabel: str = "binary cross-entropy"
) -> None:
    """Training (solid) and validation (dashed) loss per epoch, one colour per model."""
    figure, axes = plt.subplots(figsize=(5, 4.5))
    for (name, history), colour in zip(histories.items(), plt.cm.tab10.colors, strict=False):
        epochs = np.arange(1, len(history.train_loss) + 1)
        axes.plot(epochs, history.train_loss, color=colour, marker="o", label=f"{name}, training")
        if history.validation_loss:
            axes.plot(
                epochs,
                history.validation_loss,
                color=colour,
                ls="--",
                marker="o",
                label=f"{name}, validation",
            )
    axes.set(xlabel="epoch", ylabel=ylabel)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
