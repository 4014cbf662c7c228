"""The two study models (conftest fixture ``study_models``) written by ``e2e-gnn triton-repo``
into one repository and served by a real tritonserver on 127.0.0.1: every output equal to
torch within 1e-5 absolute (tests/study_models.py ATOL) through the client's
run and run_graphs, the triton Tagger and the hits ensemble (the server builds the graphs
from the spec; the calibration model's u passed through), on one-node graphs (E = 0),
graphs among them, a cloud longer than 859 points and a shuffled batch."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.study_models import STUDIES, assert_outputs_equal, flat

from e2e_gnn import Tagger
from e2e_gnn.cli import main
from e2e_gnn.ragged import Ragged
from e2e_gnn.runtime.triton_backend import TritonBackend
from e2e_gnn.triton import TritonServer

pytestmark = pytest.mark.triton
PROTOCOLS = ["http", "grpc"]


@pytest.fixture(scope="module")
def study_server(
    tmp_path_factory: pytest.TempPathFactory, study_models, server_binary: Path
) -> Iterator[TritonServer]:
    """Every entry ``triton-repo`` writes for both models (``jetpointnet*``,
    ``calibration*``), served by one server."""
    root = tmp_path_factory.mktemp("study_repo")
    for name in STUDIES:
        done = CliRunner().invoke(
            main, ["triton-repo", str(study_models[name].path), str(root), "--name", name]
        )
        assert done.exit_code == 0, done.output
        assert f"{name}_hits" in done.output
    server = TritonServer(root, binary=server_binary, startup_timeout_s=120).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _url(server: TritonServer, protocol: str) -> str:
    return server.http_url if protocol == "http" else server.grpc_url


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", STUDIES)
def test_served_outputs_equal_torch(study_server, study_models, name: str, protocol: str) -> None:
    """run() (flat) and run_graphs() (per-node outputs split per graph, 3 graphs a request)
    on the entry the client finds by the export's checksum."""
    study = study_models[name]
    with TritonBackend(study.path, url=_url(study_server, protocol), protocol=protocol) as client:
        client.max_graphs_per_request = 3
        for label, case in study.cases.items():
            where = f"{name} {label}"
            assert_outputs_equal(client.run(case.batch.inputs()), case, study.per_node, where)
            graphs = [case.batch.graph(g) for g in range(case.batch.num_graphs)]
            split = client.run_graphs(graphs, u=case.batch.u)
            for output, got in split.items():
                if study.per_node[output]:
                    assert isinstance(got, Ragged) and len(got) == case.batch.num_graphs
            assert_outputs_equal(flat(split), case, study.per_node, where)
        assert client.model_name == f"{name}_python"


@pytest.mark.parametrize("name", STUDIES)
def test_tagger_on_triton_equals_torch(study_server, study_models, name: str) -> None:
    study = study_models[name]
    with Tagger(study.path, backend="triton", url=study_server.http_url) as tagger:
        for label, case in study.cases.items():
            outputs = tagger.outputs(case.batch)
            assert_outputs_equal(flat(outputs), case, study.per_node, f"{name} {label}")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", STUDIES)
def test_hits_ensemble_equals_torch(study_server, study_models, name: str, protocol: str) -> None:
    """Hits (the graphs' node features) and u in: the server builds the edges as the spec
    says (Delaunay for the jets, none for the clouds)."""
    study = study_models[name]
    with TritonBackend(
        study.path,
        url=_url(study_server, protocol),
        protocol=protocol,
        model_name=f"{name}_hits",
    ) as client:
        for label, case in study.cases.items():
            hits = [case.batch.graph(g)[0] for g in range(case.batch.num_graphs)]
            got = flat(client.run_graphs(hits, u=case.batch.u))
            assert_outputs_equal(got, case, study.per_node, f"{name} {label} (hits)")
    log = study_server.log_path.read_text(errors="replace")
    assert f"{name}_graph_builder: graphs from e2e_gnn graphs_from_spec" in log
