"""Classifier metrics in NumPy (no torch, no scikit-learn)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

#: the signal efficiencies at which tables quote the background rejection
REJECTION_EFFICIENCIES = (0.5, 0.8)


def roc_curve(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates for every threshold, from (0, 0) to (1, 1); with
    ``weights``, each item counts with its weight (a reweighted sample's ROC)."""
    labels = np.asarray(labels).ravel().astype(bool)
    scores = np.asarray(scores).ravel()
    if labels.all() or not labels.any():
        msg = "the ROC curve needs both classes among the labels"
        raise ValueError(msg)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, np.float64).ravel()
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels, sorted_w = scores[order], labels[order], w[order]
    # one point per distinct score, so tied scores form one diagonal step
    last_of_tie = np.r_[np.diff(sorted_scores) != 0, True]
    tp = np.cumsum(np.where(sorted_labels, sorted_w, 0.0))[last_of_tie]
    fp = np.cumsum(np.where(sorted_labels, 0.0, sorted_w))[last_of_tie]
    if tp[-1] <= 0 or fp[-1] <= 0:
        msg = "the ROC curve needs a positive total weight in both classes"
        raise ValueError(msg)
    return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]


def roc_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    fpr, tpr = roc_curve(labels, scores, weights)
    return float(np.trapezoid(tpr, fpr))


def rejection_at(labels: np.ndarray, scores: np.ndarray, efficiency: float) -> float:
    """Background rejection (1 / background efficiency) at the threshold that keeps
    ``efficiency`` of the signal (the first ROC point reaching it); inf when no background
    passes there."""
    fpr, tpr = roc_curve(labels, scores)
    background = fpr[np.searchsorted(tpr, efficiency)]
    return float(1.0 / background) if background > 0 else float("inf")


def performance(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """The table entry of a tagger: AUC and the background rejection at 50 % and 80 % signal
    efficiency (``rejection_at_50``, ``rejection_at_80``). When no background passes, the
    rejection is None and only known to exceed the number of background items
    (``rejection_above``)."""
    labels = np.asarray(labels)
    result: dict[str, Any] = {
        "signal": int((labels == 1).sum()),
        "background": int((labels == 0).sum()),
        "auc": round(roc_auc(labels, scores), 4),
    }
    for efficiency in REJECTION_EFFICIENCIES:
        rejection = rejection_at(labels, scores, efficiency)
        result[f"rejection_at_{round(100 * efficiency)}"] = (
            None if np.isinf(rejection) else round(rejection, 2)
        )
    result["rejection_above"] = result["background"]
    return result


def binned_performance(
    labels: np.ndarray,
    scores: np.ndarray,
    values: np.ndarray,
    edges: np.ndarray,
    min_per_class: int = 5,
) -> list[dict[str, Any]]:
    """:func:`performance` of the items with ``values`` in each bin of ``edges`` (both
    classes from the bin, as for AUC in bins of jet pT); a bin with fewer than
    ``min_per_class`` items of a class gives only its counts."""
    labels, values = np.asarray(labels), np.asarray(values)
    rows = []
    for low, high in pairwise(edges):
        inside = (values >= low) & (values < high)
        row: dict[str, Any] = {"range": [float(low), float(high)]}
        part = labels[inside]
        if min(int((part == 1).sum()), int((part == 0).sum())) >= min_per_class:
            row.update(performance(part, np.asarray(scores)[inside]))
        else:
            row.update(signal=int((part == 1).sum()), background=int((part == 0).sum()))
        rows.append(row)
    return rows


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Edges of ``bins`` equally populated bins of ``values`` (rounded to 3 significant
    digits for tables, the outer edges widened to hold every value: the last one just above
    the largest)."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.quantile(values, np.linspace(0, 1, bins + 1))
    edges = np.array([float(f"{e:.3g}") for e in edges])
    edges[0] = min(edges[0], values.min())
    edges[-1] = np.nextafter(max(edges[-1], values.max()), np.inf)
    return np.unique(edges)
