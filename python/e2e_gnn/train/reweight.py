"""(pT, eta) reweighting of the training classes, as tagger trainings do (weaver's
``reweight_vars``): signal and background come from different processes with different
kinematic spectra, and a tagger trained on them unweighted learns the spectra. Each class
is weighted, bin by bin of a 2-D histogram, to a common target distribution, so that the
weighted (pT, eta) histograms of the two classes agree and only the shower shapes are
left to tag with.

NumPy only. The target is flat over the bins both classes populate (weaver's
``reweight_method: flat``): items in bins the other class leaves empty get weight 0, since
no weight can make the classes agree there. Weights are clipped at ``max_weight`` times
their class median (a bin with one item must not dominate the loss), then normalised so
that each class carries half of the total and the mean weight is 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["Reweighting", "class_histograms", "parse_reweight", "reweight"]

#: bins per variable when the option names none: few enough to be populated by a few
#: hundred training items of each class
DEFAULT_BINS = 6
DEFAULT_MAX_WEIGHT = 10.0


@dataclass(frozen=True)
class Reweighting:
    """What to reweight on: two per-frame ``variables`` (columns of the frames file) with
    ``bins`` bins each, edges at the quantiles of both classes together (equally populated
    bins whatever the spectra), weights clipped at ``max_weight`` times the class median."""

    variables: tuple[str, str] = ("pt", "eta")
    bins: tuple[int, int] = (DEFAULT_BINS, DEFAULT_BINS)
    max_weight: float = DEFAULT_MAX_WEIGHT

    def __str__(self) -> str:
        return ",".join(f"{v}:{b}" for v, b in zip(self.variables, self.bins, strict=True))


def parse_reweight(text: str) -> Reweighting:
    """``"pt,eta"`` or ``"pt:8,eta:4"`` (variable[:bins], two of them) -> Reweighting;
    ValueError naming what is wrong otherwise."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != 2:
        msg = (
            f"reweighting takes two variables (columns of the frames file) with optional bin "
            f"counts, such as 'pt,eta' or 'pt:8,eta:4'; got {text!r}"
        )
        raise ValueError(msg)
    names, bins = [], []
    for part in parts:
        name, _, count = part.partition(":")
        if not name or (count and (not count.isdigit() or int(count) < 1)):
            msg = f"reweighting variable {part!r} of {text!r} is not name or name:bins (bins >= 1)"
            raise ValueError(msg)
        names.append(name)
        bins.append(int(count) if count else DEFAULT_BINS)
    if names[0] == names[1]:
        msg = f"reweighting needs two different variables, got {text!r}"
        raise ValueError(msg)
    return Reweighting((names[0], names[1]), (bins[0], bins[1]))


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    if len(edges) < 2:  # one value: one bin around it
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return edges


def _bin_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # interior edges only: values beyond the range fall into the first or last bin
    return np.searchsorted(edges[1:-1], values, side="right")


def class_histograms(
    columns: Mapping[str, np.ndarray],
    label: np.ndarray,
    spec: Reweighting,
    weights: np.ndarray | None = None,
    edges: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The (weighted) 2-D histograms [2 classes, bins_0, bins_1] of the two variables, and
    their edges (``edges``, else the quantiles of all items)."""
    values = [np.asarray(columns[name], dtype=np.float64) for name in spec.variables]
    if edges is None:
        edges = (_edges(values[0], spec.bins[0]), _edges(values[1], spec.bins[1]))
    cell = _bin_of(values[0], edges[0]) * (len(edges[1]) - 1) + _bin_of(values[1], edges[1])
    size = (len(edges[0]) - 1) * (len(edges[1]) - 1)
    w = np.ones(len(label)) if weights is None else np.asarray(weights, dtype=np.float64)
    histograms = np.stack(
        [np.bincount(cell[label == c], w[label == c], minlength=size) for c in (0, 1)]
    )
    return histograms.reshape(2, len(edges[0]) - 1, len(edges[1]) - 1), edges


def reweight(
    columns: Mapping[str, np.ndarray], label: np.ndarray, spec: Reweighting, source: str
) -> np.ndarray:
    """float32 [B]: the training weight of every item (label 0 or 1), from its values of
    ``spec.variables`` in ``columns``. ``source`` names the items in errors (a missing
    column, non-finite values)."""
    missing = [name for name in spec.variables if name not in columns]
    if missing:
        msg = (
            f"cannot reweight on {list(spec.variables)}: {source} lacks the column(s) "
            f"{missing} (it has {sorted(columns)}); frames written by `e2e-gnn frames` carry "
            "pt and eta of each frame's object"
        )
        raise ValueError(msg)
    for name in spec.variables:
        bad = ~np.isfinite(np.asarray(columns[name], dtype=np.float64))
        if bad.any():
            msg = f"column {name!r} of {source} is not finite at item {int(np.flatnonzero(bad)[0])}"
            raise ValueError(msg)
    label = np.asarray(label).astype(np.int64)
    counts, edges = class_histograms(columns, label, spec)
    both = (counts > 0).all(axis=0)
    values = [np.asarray(columns[name], dtype=np.float64) for name in spec.variables]
    row, col = _bin_of(values[0], edges[0]), _bin_of(values[1], edges[1])
    # flat target over the common bins: weight 1 / (items of the class in the bin)
    per_bin = np.where(both, 1.0 / np.maximum(counts, 1), 0.0)
    weights = per_bin[label, row, col]
    for c in (0, 1):
        mine = (label == c) & (weights > 0)
        if not mine.any():
            msg = (
                f"cannot reweight {source} on {list(spec.variables)}: no "
                f"{'signal' if c else 'background'} item shares a ({spec}) bin with the other "
                "class; use fewer bins"
            )
            raise ValueError(msg)
        cap = spec.max_weight * np.median(weights[mine])
        weights[label == c] = np.minimum(weights[label == c], cap)
        weights[label == c] *= 0.5 * len(label) / weights[label == c].sum()
    return weights.astype(np.float32)
