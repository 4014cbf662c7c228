"""Plots people would rather look at than read: ROC curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from e2e_gnn.train.metrics import roc_auc, roc_curve


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
