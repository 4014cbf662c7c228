"""Event-level graphs whose nodes are reconstructed objects, read straight from NanoAOD.

Each event with at least one object becomes one graph. Nodes are the event's jets, muons,
electrons, photons, taus and secondary vertices (those of ``OBJECT_TYPES`` that the events
carry, or the ones asked for), in that type order and in collection order within a type.
Node features (``ObjectGraphs.feature_names``): ``pt`` (GeV), ``eta``, ``phi``, ``mass``
(GeV; 0 for a collection without mass) and a one-hot type over all ``OBJECT_TYPES`` (so the
width does not depend on which collections are present). Edges join each node to its ``k``
nearest nodes of the same event in eta-phi (phi wrapped), as (source = neighbour, target =
node): messages flow from the neighbours to the node, PyG's ``knn_graph`` convention. The
result has the GraphBatch layout: ``x`` float32 [N, F], ``edge_index`` int64 [2, E],
``batch`` int64 [N].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from e2e_gnn.frames.base import event_numbers, file_entry, require_fields
from e2e_gnn.graphs.builders import knn_graph

__all__ = ["OBJECT_TYPES", "ObjectGraphProducer", "ObjectGraphs", "knn_eta_phi"]

OBJECT_TYPES: tuple[str, ...] = ("jets", "muons", "electrons", "photons", "taus", "svs")
KINEMATICS: tuple[str, ...] = ("pt", "eta", "phi", "mass")


def knn_eta_phi(
    eta: np.ndarray, phi: np.ndarray, batch: np.ndarray, num_graphs: int, k: int, loop: bool
) -> np.ndarray:
    """kNN edges within each graph in eta-phi with phi wrap-around, by the native builder.

    Returns int64 ``[2, E]`` (source = neighbour, target = node), sorted by target; ties go
    to the lower node index; a node of a graph with ``n`` nodes gets ``min(k, n - 1)``
    neighbours (``min(k, n)`` with ``loop``, itself included).
    """
    counts = np.bincount(batch, minlength=num_graphs)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    positions = np.column_stack([eta, phi]).astype(np.float32)
    return knn_graph(positions, ptr, k, loop=loop, periodic=1)


@dataclass
class ObjectGraphs:
    """Object graphs of a chunk of events, in the GraphBatch layout.

    One graph per event with at least one object (``event`` holds their event numbers);
    events without objects get no graph (GraphBatch wants every graph id to own a node) and
    are counted in ``dropped["no_objects"]``.
    """

    x: np.ndarray
    edge_index: np.ndarray
    batch: np.ndarray
    num_graphs: int
    feature_names: tuple[str, ...]
    event: np.ndarray
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.num_graphs

    def graphs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-graph ``(x, edge_index)`` with local indices (``GraphBatch.from_graphs`` input)."""
        counts = np.bincount(self.batch, minlength=self.num_graphs)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        edge_graph = self.batch[self.edge_index[1]]
        out = []
        for g in range(self.num_graphs):
            e = self.edge_index[:, edge_graph == g] - offsets[g]
            out.append((self.x[offsets[g] : offsets[g + 1]], e))
        return out


@dataclass(frozen=True)
class ObjectGraphProducer:
    """One kNN graph per event over its reconstructed objects.

    Args:
        k: neighbours per node (default: 4).
        collections: object types to use, a subset of ``OBJECT_TYPES`` (default: all that the
            events carry; at least one must be present).
        loop: include each node among its own neighbours (default: False).
    """

    k: int = 4
    collections: tuple[str, ...] | None = None
    loop: bool = False

    def __call__(self, events: ak.Array) -> ObjectGraphs:
        who = type(self).__name__
        types = self._types(events, who)
        per_type = []
        for name in types:
            need = ("pt", "eta", "phi")
            require_fields(events, name, need, who)
            coll = events[name]
            fields = {f: ak.values_astype(coll[f], np.float32) for f in need}
            fields["mass"] = (
                ak.values_astype(coll["mass"], np.float32)
                if "mass" in coll.fields
                else ak.values_astype(coll["pt"] * 0, np.float32)
            )
            fields["type"] = ak.full_like(coll["pt"], OBJECT_TYPES.index(name), dtype=np.int64)
            per_type.append(ak.zip(fields))
        nodes = ak.concatenate(per_type, axis=1)
        counts = ak.to_numpy(ak.num(nodes, axis=1)).astype(np.int64)
        flat = ak.flatten(nodes, axis=1)
        kin = np.stack([ak.to_numpy(flat[f]) for f in KINEMATICS], axis=1).astype(np.float32)
        node_type = ak.to_numpy(flat["type"])
        if not np.isfinite(kin).all():
            node, col = (int(v[0]) for v in np.nonzero(~np.isfinite(kin)))
            entry = file_entry(events, int(np.repeat(np.arange(len(counts)), counts)[node]))
            msg = (
                f"{who}: {OBJECT_TYPES[node_type[node]]}.{KINEMATICS[col]} of event entry "
                f"{entry} is {float(kin[node, col])!r}; graphs need finite values: fix or "
                "filter the input"
            )
            raise ValueError(msg)
        onehot = np.eye(len(OBJECT_TYPES), dtype=np.float32)[node_type]
        x = np.concatenate([kin, onehot], axis=1)
        has = counts > 0
        num_graphs = int(has.sum())
        batch = np.repeat(np.arange(num_graphs, dtype=np.int64), counts[has])
        edge_index = knn_eta_phi(kin[:, 1], kin[:, 2], batch, num_graphs, self.k, self.loop)
        return ObjectGraphs(
            x=x,
            edge_index=edge_index,
            batch=batch,
            num_graphs=num_graphs,
            feature_names=KINEMATICS + tuple(f"is_{t}" for t in OBJECT_TYPES),
            event=event_numbers(events)[has],
            dropped={"no_objects": int((~has).sum())},
        )

    def _types(self, events: ak.Array, who: str) -> tuple[str, ...]:
        if self.collections is None:
            types = tuple(t for t in OBJECT_TYPES if t in events.fields)
            if not types:
                msg = (
                    f"{who}: the events carry none of the object collections {OBJECT_TYPES}; "
                    f"they have {events.fields} (read them with schema 'nanoaod')"
                )
                raise KeyError(msg)
            return types
        bad = [c for c in self.collections if c not in OBJECT_TYPES]
        if bad or not self.collections:
            msg = (
                f"{who}: unknown or no collections {list(self.collections)!r}; choose from "
                f"{OBJECT_TYPES}"
            )
            raise ValueError(msg)
        return tuple(sorted(self.collections, key=OBJECT_TYPES.index))
