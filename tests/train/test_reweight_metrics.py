"""The table's metrics: weighted ROC (a weight k counts as k copies), rejection at 50 % and
80 % signal efficiency, and AUC in bins of pT."""

from __future__ import annotations

import numpy as np
import pytest

from e2e_gnn.train.metrics import binned_performance, performance, quantile_edges, roc_auc


def test_an_integer_weight_counts_as_copies() -> None:
    rng = np.random.default_rng(0)
    labels, scores = rng.integers(0, 2, 60), rng.normal(size=60)
    scores[labels == 1] += 0.7
    weights = rng.integers(0, 4, 60)
    copies = np.repeat(np.arange(60), weights)
    assert roc_auc(labels, scores, weights.astype(float)) == pytest.approx(
        roc_auc(labels[copies], scores[copies]), abs=1e-12
    )
    with pytest.raises(ValueError, match="positive total weight"):
        roc_auc(labels, scores, np.where(labels == 1, 0.0, 1.0))


def test_performance_quotes_rejection_at_50_and_80_percent() -> None:
    # by score: S S B S B S B B B B. 50 % signal (2 of 4): no background passes; 80 %
    # needs all 4 signal (3 of 4 is 75 %): 2 of the 6 background pass
    labels = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0, 0])
    scores = np.arange(10, 0, -1).astype(float)
    table = performance(labels, scores)
    assert table["rejection_at_50"] is None and table["rejection_above"] == 6
    assert table["rejection_at_80"] == 3.0  # 2 of 6 background above the 4th signal
    assert (table["signal"], table["background"]) == (4, 6)


def test_auc_in_bins_uses_the_items_of_each_bin() -> None:
    rng = np.random.default_rng(1)
    pt = rng.uniform(20, 100, 400)
    labels = rng.integers(0, 2, 400)
    scores = labels * (pt > 60) + rng.normal(0, 0.5, 400)  # separable at high pT only
    edges = quantile_edges(pt, 2)
    assert edges[0] <= pt.min() and edges[-1] > pt.max()
    low, high = binned_performance(labels, scores, pt, edges)
    inside = pt >= edges[1]
    assert high["auc"] == pytest.approx(roc_auc(labels[inside], scores[inside]), abs=1e-4)
    assert low["auc"] < 0.65 < high["auc"]
    assert low["signal"] + low["background"] + high["signal"] + high["background"] == 400
    (sparse,) = binned_performance(labels[:7], scores[:7], pt[:7], np.array([0.0, 200.0]))
    assert "auc" not in sparse and sparse["signal"] + sparse["background"] == 7
