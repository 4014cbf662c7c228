"""Graph cases shared by the nn tests: random batches and the corner cases of the contract."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Graph:
    name: str
    x: Tensor
    edge_index: Tensor
    batch: Tensor

    @property
    def num_nodes(self) -> int:
        return self.x.size(0)


def random_batch(
    sizes: list[int], edges_per_node: float, features: int, seed: int, name: str = ""
) -> Graph:
    """A batch of graphs with ``sizes`` nodes each; edges stay inside their graph and may
    repeat or be self loops (random sampling)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(sum(sizes), features, generator=gen)
    batch, edges, offset = [], [], 0
    for g, n in enumerate(sizes):
        batch.append(torch.full((n,), g, dtype=torch.long))
        e = round(edges_per_node * n)
        if n > 0 and e > 0:
            edges.append(torch.randint(0, n, (2, e), generator=gen) + offset)
        offset += n
    edge_index = torch.cat(edges, dim=1) if edges else torch.empty(2, 0, dtype=torch.long)
    return Graph(name or f"random{sizes}", x, edge_index, torch.cat(batch))


def corner_cases(features: int, seed: int = 0) -> list[Graph]:
    """E = 0, single node, isolated nodes, self loops, duplicate edges, several batches."""
    gen = torch.Generator().manual_seed(seed)

    def feats(n: int) -> Tensor:
        return torch.randn(n, features, generator=gen)

    long = torch.long
    cases = [
        Graph("no_edges", feats(5), torch.empty(2, 0, dtype=long), torch.zeros(5, dtype=long)),
        Graph("single_node", feats(1), torch.empty(2, 0, dtype=long), torch.zeros(1, dtype=long)),
        Graph(
            "single_node_self_loop",
            feats(1),
            torch.zeros(2, 1, dtype=long),
            torch.zeros(1, dtype=long),
        ),
        Graph(
            "isolated_nodes",
            feats(6),
            torch.tensor([[0, 1, 2], [1, 2, 0]]),  # nodes 3, 4, 5 receive nothing
            torch.zeros(6, dtype=long),
        ),
        Graph(
            "self_loops",
            feats(4),
            torch.tensor([[0, 1, 2, 3, 0], [0, 1, 2, 3, 1]]),
            torch.zeros(4, dtype=long),
        ),
        Graph(
            "duplicate_edges",
            feats(4),
            torch.tensor([[0, 0, 0, 1, 1, 2, 3], [1, 1, 1, 2, 2, 3, 3]]),
            torch.zeros(4, dtype=long),
        ),
    ]
    cases.append(
        Graph(
            "duplicate_self_loops",
            feats(3),
            torch.tensor([[1, 1, 0, 1, 2], [1, 1, 1, 1, 0]]),
            torch.zeros(3, dtype=long),
        )
    )
    cases.append(random_batch([1], 0.0, features, seed + 1, "one_graph_one_node"))
    cases.append(random_batch([7, 1, 12], 3.0, features, seed + 2, "three_graphs_mixed"))
    cases.append(random_batch([30] * 8, 4.0, features, seed + 3, "eight_graphs"))
    cases.append(random_batch([3, 50], 8.0, features, seed + 4, "small_and_large"))
    return cases


def knn_batch(
    sizes: list[int], k: int, features: int, seed: int, loop: bool = False, name: str = ""
) -> Graph:
    """Graphs whose edges are the kNN graph of x (what the graph builders emit): grouped by
    target in increasing order, ``min(k, n - 1)`` neighbours per node (``min(k, n)`` with the
    self loop), so graphs with fewer than k + 1 nodes have fewer edges per node."""
    graph = random_batch(sizes, 0.0, features, seed, name or f"knn{k}{sizes}")
    sources, targets, offset = [], [], 0
    for n in sizes:
        degree = min(k, n if loop else n - 1)
        if degree > 0:
            pos = graph.x[offset : offset + n]
            dist = torch.cdist(pos, pos)
            if not loop:
                dist.fill_diagonal_(float("inf"))
            order = dist.topk(degree, dim=1, largest=False).indices
            sources.append(order.reshape(-1) + offset)
            targets.append(torch.arange(offset, offset + n).repeat_interleave(degree))
        offset += n
    if sources:
        graph.edge_index = torch.stack([torch.cat(sources), torch.cat(targets)])
    return graph
