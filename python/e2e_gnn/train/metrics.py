"""Classifier metrics in NumPy (no torch, no scikit-learn)."""

from __future__ import annotations

import numpy as np


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates for every threshold, from (0, 0) to (1, 1)."""
    labels = np.asarray(labels).ravel().astype(bool)
    scores = np.asarray(scores).ravel()
    if labels.all() or not labels.any():
        msg = "the ROC curve needs both classes among the labels"
        raise ValueError(msg)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    # one point per distinct score, so tied scores form one diagonal step
    last_of_tie = np.r_[np.diff(sorted_scores) != 0, True]
    tp = np.cumsum(sorted_labels)[last_of_tie]
    fp = np.cumsum(~sorted_labels)[last_of_tie]
    return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    fpr, tpr = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def rejection_at(labels: np.ndarray, scores: np.ndarray, efficiency: float) -> float:
    """Background rejection (1 / background efficiency) at the threshold that keeps
    ``efficiency`` of the signal (the first ROC point reaching it); inf when no background
    passes there."""
    fpr, tpr = roc_curve(labels, scores)
    background = fpr[np.searchsorted(tpr, efficiency)]
    return float(1.0 / background) if background > 0 else float("inf")
