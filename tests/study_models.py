"""The two node-level study models, exported once per test session as the studies make them,
and the cases every deployment path is checked on against torch.

JetPointNet (seed 004) and the constituent-calibration GNN (seed 001) are built by their
training kinds (``e2e_gnn.train.jetpointnet`` / ``calibration`` ``KIND.build``: input
scaling from the data) on clouds and jets the producers wrote (``frames --kind pointcloud``
and ``--kind constituents`` of a few generated events, read by the training readers), saved
with the graph spec the training writes (``KIND.graph_spec``: builder "none"; "delaunay"
with graph features ``u``) and exported with ``e2e-gnn export-onnx --checkpoint``. The
models are small and untrained; their weights are moved away from the start (identity
transforms, factor 1) so that the outputs differ from node to node.

Registered as a plugin by the root conftest.py: the fixture ``study_models`` is
{"jetpointnet": Study, "calibration": Study}.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from e2e_gnn.graphs.batch import GraphBatch
from e2e_gnn.spec import ModelSpec

STUDIES = ("jetpointnet", "calibration")
# |got - torch| <= ATOL, absolute: JetPointNet's outputs are point energies (its energy
# bypass), below 20 GeV on these clouds (measured |got - torch| <= 2e-6); the calibration
# outputs are factors in [0.5, 3] and rapidity shifts
ATOL = 1e-5
SEED_CLOUD_LIMIT = 859  # the seed's hard-coded cloud length


@dataclass(frozen=True)
class Case:
    """A batch and the torch outputs expected for it: per-node outputs [N, C] in the
    batch's node order, per-graph ones [G, C]."""

    batch: GraphBatch
    expected: dict[str, np.ndarray]


@dataclass(frozen=True)
class Study:
    """An exported study model: ``model`` (torch, eval), ``spec`` (as written in the file),
    ``path`` (ONNX), ``data`` (every graph read, edges as the producer wrote them) and the
    named ``cases``."""

    name: str
    model: object
    spec: ModelSpec
    path: Path
    data: GraphBatch
    cases: dict[str, Case]

    @property
    def per_node(self) -> dict[str, bool]:
        return {output.name: output.per_node for output in self.spec.outputs}


def torch_outputs(model, spec: ModelSpec, batch: GraphBatch) -> dict[str, np.ndarray]:
    """Every output of ``model`` on ``batch``, by the spec's output names."""
    import torch

    with torch.no_grad():
        found = model(*(torch.from_numpy(a) for a in batch.inputs().values()))
    found = found if isinstance(found, tuple) else (found,)
    return {out.name: t.numpy() for out, t in zip(spec.outputs, found, strict=True)}


def assert_outputs_equal(
    got: dict[str, np.ndarray], case: Case, per_node: dict[str, bool], where: str
) -> None:
    """Every output of ``got`` (flat: [N, C] per node, [G, C] per graph) equal to the case's
    torch outputs within ATOL."""
    assert list(got) == list(case.expected), where
    for name, wanted in case.expected.items():
        rows = case.batch.num_nodes if per_node[name] else case.batch.num_graphs
        assert got[name].shape == (rows, wanted.shape[1]), f"{where}: {name}"
        np.testing.assert_allclose(got[name], wanted, atol=ATOL, rtol=0, err_msg=f"{where}: {name}")


def flat(outputs: dict[str, object]) -> dict[str, np.ndarray]:
    """Outputs as a backend's run() gives them: a Ragged per-node output as its values."""
    from e2e_gnn.ragged import Ragged

    return {k: v.values if isinstance(v, Ragged) else v for k, v in outputs.items()}


def _one_node_graphs(data: GraphBatch, graphs: list[int]) -> GraphBatch:
    """The first node of each of ``graphs`` as a graph of its own (no edges), with its
    graph's u."""
    ptr = data.node_ptr
    none = np.zeros((2, 0), dtype=np.int64)
    u = None if data.u is None else data.u[graphs]
    return GraphBatch.from_graphs([(data.x[ptr[g] : ptr[g] + 1], none) for g in graphs], u=u)


def _joined(parts: list[GraphBatch]) -> GraphBatch:
    """The graphs of ``parts`` in order, in one batch."""
    graphs = [part.graph(g) for part in parts for g in range(part.num_graphs)]
    u = None if parts[0].u is None else np.concatenate([part.u for part in parts])
    return GraphBatch.from_graphs(graphs, u=u)


def _cases(name: str, model, spec: ModelSpec, data: GraphBatch) -> dict[str, Case]:
    rng = np.random.default_rng(13)
    few = data.select(range(6))
    batches = {
        # one-node graphs have no edges: the whole batch has E = 0
        "one-node graphs (E = 0)": _one_node_graphs(data, [0, 3, 5, 1]),
        "graphs as produced": few,
        "one-node graphs among others": _joined(
            [_one_node_graphs(data, [2]), few.select([1, 4]), _one_node_graphs(data, [7, 8])]
        ),
    }
    if name == "jetpointnet":
        # the points of the first clouds as one cloud longer than the seed's limit
        stop = int(data.node_ptr[np.searchsorted(data.node_ptr, SEED_CLOUD_LIMIT + 1)])
        none = np.zeros((2, 0), dtype=np.int64)
        long = GraphBatch.from_graphs([(data.x[:stop], none)])
        batches[f"a cloud of {stop} points"] = _joined(
            [_one_node_graphs(data, [4]), long, few.select([2])]
        )
    else:
        batches["all jets"] = data
    cases = {key: Case(b, torch_outputs(model, spec, b)) for key, b in batches.items()}
    # the graphs of a batch in another order, rows with them; expected: torch on the batch
    # in its own order, permuted
    base = cases["one-node graphs among others"]
    order = rng.permutation(base.batch.num_graphs)
    assert not np.array_equal(order, np.arange(len(order)))
    ptr = base.batch.node_ptr
    nodes = np.concatenate([np.arange(ptr[g], ptr[g + 1]) for g in order])
    per_node = {out.name: out.per_node for out in spec.outputs}
    cases["shuffled"] = Case(
        base.batch.select(order),
        {k: v[nodes] if per_node[k] else v[order] for k, v in base.expected.items()},
    )
    return cases


def _perturbed(model, scale: float, seed: int) -> None:
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn_like(parameter))


def _export_study(name: str, events: Path, out: Path) -> Study:
    import torch
    from click.testing import CliRunner

    from e2e_gnn.cli import main
    from e2e_gnn.frames.run import make_frames
    from e2e_gnn.model_file import ModelFile
    from e2e_gnn.train.checkpoint import load_checkpoint, save_checkpoint
    from e2e_gnn.train.node_level import node_kind
    from e2e_gnn.train.settings import TrainSettings

    kind = node_kind(name)
    frames = out / f"{name}.parquet"
    make_frames([events], frames, kind="pointcloud" if name == "jetpointnet" else "constituents")
    data = kind.read([frames])
    torch.manual_seed(0)
    model = kind.build(data, TrainSettings(hidden=8, layers=2, global_width=16))
    _perturbed(model, 0.1 if name == "jetpointnet" else 0.3, seed=1)
    checkpoint = out / f"{name}.pt"
    save_checkpoint(checkpoint, model, type(model).__name__, kind.graph_spec(data), {})
    path = out / f"{name}.onnx"
    done = CliRunner().invoke(
        main, ["export-onnx", "--checkpoint", str(checkpoint), "--out", str(path)]
    )
    assert done.exit_code == 0, done.output
    loaded, _ = load_checkpoint(checkpoint)
    spec = ModelFile.read(path).spec
    return Study(name, loaded, spec, path, data.graphs, _cases(name, loaded, spec, data.graphs))


@pytest.fixture(scope="session")
def study_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Study]:
    """Both study models exported from a few generated quark/gluon events (see the module
    docstring); the events take about a second, each export 10-30 s."""
    pytest.importorskip("torch")
    pytest.importorskip("fastjet")
    from e2e_gnn.generate import generate

    out = tmp_path_factory.mktemp("study_models")
    events = out / "events.root"
    generate("quark_gluon", 20, 1, events, workers=1, mpi=False, progress=False)
    return {name: _export_study(name, events, out) for name in STUDIES}
