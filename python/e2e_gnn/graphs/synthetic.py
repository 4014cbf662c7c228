"""Generated graphs: the built-in toy jets of the demo and the parity-check cases.

Toy jets are point clouds in (eta, phi) around the jet axis: signal jets have two hard
prongs (like a boosted W or top subjet), background jets one, both with soft radiation.
Node features are ``(deta, dphi, log(E), n * E / E_jet)`` with angles in units of 0.1 (all
features of order one, as a network wants them) and edges are kNN in (deta, dphi), built by
the same builder the deployed model uses.
"""

from __future__ import annotations

import numpy as np

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.spec import GraphSpec

TOY_FEATURES = ("deta", "dphi", "log_energy", "energy_fraction")
TOY_GRAPH_SPEC = GraphSpec(
    feature_names=TOY_FEATURES,
    builder="knn",
    k=8,
    loop=False,
    coordinates=("deta", "dphi"),
    coordinate_scale=(1.0, 1.0),
)


def _toy_jet(rng: np.random.Generator, signal: bool) -> np.ndarray:
    n = int(rng.integers(20, 80))
    prongs = 2 if signal else 1
    axes = rng.normal(0.0, 0.12, size=(prongs, 2)) if signal else np.zeros((1, 2))
    weights = rng.dirichlet(np.full(prongs, 3.0))
    hard = rng.choice(prongs, size=n, p=weights)
    spread = np.where(rng.random(n) < 0.7, 0.03, 0.15)[:, None]
    position = axes[hard] + rng.normal(size=(n, 2)) * spread
    energy = rng.exponential(5.0, size=n) + 0.5
    features = np.column_stack([position / 0.1, np.log(energy) - 1.5, n * energy / energy.sum()])
    return features.astype(np.float32)


def toy_jets(num_jets: int, seed: int = 0, spec: GraphSpec = TOY_GRAPH_SPEC) -> GraphBatch:
    """``num_jets`` toy jets, half signal (label 1), half background, shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_jets) % 2).astype(np.float32)
    features = [_toy_jet(rng, bool(label)) for label in labels]
    return graphs_from_features(features, spec, labels)


def graphs_from_features(
    features: list[np.ndarray], spec: GraphSpec, y: np.ndarray | None = None
) -> GraphBatch:
    """One graph per node-feature array, edges built as ``spec`` says."""
    counts = np.array([len(f) for f in features])
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return graphs_from_spec(np.concatenate(features), ptr, spec, y)


def random_features(
    rng: np.random.Generator, sizes: list[int], num_features: int
) -> list[np.ndarray]:
    """Gaussian node features for graphs of the given node counts."""
    return [rng.normal(size=(n, num_features)).astype(np.float32) for n in sizes]
