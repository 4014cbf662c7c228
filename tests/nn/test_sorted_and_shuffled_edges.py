"""The exported layers give torch's numbers whether the edges arrive sorted by target (as
kNN builders emit them), shuffled or absent, exported as plain ONNX or with fused
operators, on 1 and 4 ONNX Runtime threads alike."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from _nn_graphs import knn_batch
from _nn_onnx import export_model, open_session
from torch import Tensor

import e2e_gnn.nn as ours
from e2e_gnn.nn import fused_operators
from e2e_gnn.nn.models import EdgeConvTagger


def _layers() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    f = 8
    gin = ours.GINConv(torch.nn.Sequential(torch.nn.Linear(f, f), torch.nn.ReLU()))
    return {
        "GCNConv": ours.GCNConv(f, f),
        "SAGEConv": ours.SAGEConv(f, f),
        "GATConv": ours.GATConv(f, f, heads=2),
        "GINConv": gin,
    }


def _edge_cases(edge_index: Tensor) -> dict[str, Tensor]:
    perm = torch.randperm(edge_index.size(1), generator=torch.Generator().manual_seed(3))
    return {
        "sorted": edge_index,
        "shuffled": edge_index[:, perm],
        "no edges": edge_index[:, :0],
    }


def _run(session, args: dict[str, Tensor]) -> np.ndarray:  # type: ignore[no-untyped-def]
    wanted = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v.numpy() for k, v in args.items() if k in wanted})[0]


def _check_sorted_and_shuffled(
    module: torch.nn.Module,
    base: dict[str, Tensor],
    dynamic: dict[str, dict[int, str]],
    fused: bool,
) -> None:
    """Exported once on sorted edges (plain ONNX or with fused operators); on sorted,
    shuffled and no edges, at 1 and 4 threads:
    within 1e-5 of torch, identical across thread counts, sorted and shuffled within 1e-5
    of each other (the sums meet the entries in another order)."""
    module = module.eval()
    with fused_operators() if fused else contextlib.nullcontext():
        model = export_model(module, base, dynamic)
    sessions = {threads: open_session(model, threads) for threads in (1, 4)}
    outputs = {}
    for name, edge_index in _edge_cases(base["edge_index"]).items():
        args = dict(base, edge_index=edge_index)
        with torch.no_grad():
            ref = module(**args).numpy()
        got = {threads: _run(session, args) for threads, session in sessions.items()}
        np.testing.assert_allclose(got[1], ref, atol=1e-5, rtol=0, err_msg=name)
        np.testing.assert_array_equal(got[4], got[1], err_msg=name)
        outputs[name] = got[1]
    np.testing.assert_allclose(outputs["shuffled"], outputs["sorted"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
@pytest.mark.parametrize("name", ["GCNConv", "SAGEConv", "GATConv", "GINConv"])
def test_layers_on_sorted_and_shuffled_edges(name: str, fused: bool) -> None:
    graph = knn_batch([30, 25], 6, 8, seed=2)
    base = {"x": graph.x, "edge_index": graph.edge_index}
    dynamic = {"x": {0: "N"}, "edge_index": {1: "E"}}
    _check_sorted_and_shuffled(_layers()[name], base, dynamic, fused)


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
def test_tagger_on_sorted_and_shuffled_edges(fused: bool) -> None:
    torch.manual_seed(0)
    tagger = EdgeConvTagger(4, hidden=16, num_layers=3)
    graph = knn_batch([30, 25, 12], 6, 4, seed=4)
    base = {"x": graph.x, "edge_index": graph.edge_index, "batch": graph.batch}
    dynamic = {"x": {0: "N"}, "edge_index": {1: "E"}, "batch": {0: "N"}}
    _check_sorted_and_shuffled(tagger, base, dynamic, fused)
