"""Background rejection at a signal efficiency, on a ROC worked out by hand."""

from __future__ import annotations

import numpy as np

from e2e_gnn.train.metrics import rejection_at


def test_rejection_at_the_first_roc_point_reaching_the_efficiency() -> None:
    # by score: S 0.9, B 0.85, S 0.8, then three B: ROC (0, .5), (.25, .5), (.25, 1), ...
    labels = np.array([1, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.85, 0.1, 0.2, 0.3])
    assert rejection_at(labels, scores, 0.5) == np.inf  # no background above 0.9
    assert rejection_at(labels, scores, 0.75) == 4.0  # 1 of 4 background above 0.8
    assert rejection_at(labels, scores, 1.0) == 4.0
