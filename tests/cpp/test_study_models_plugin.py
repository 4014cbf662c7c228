"""cpp/examples/reco_plugin (its own CMake project against the installed library) on the two
study models (conftest fixture ``study_models``): one row per hit, the hit's per-node outputs
then its jet's per-graph ones, equal to torch within 1e-5 absolute
(tests/study_models.py ATOL). One event per case: one-node jets (E = 0), jets among
them, a cloud longer than 859 points, a shuffled batch; the plugin builds the graphs from
the spec (Delaunay for the jets, none for the clouds) and reads each jet's u from its hits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_reco_plugin import run_plugin
from tests.study_models import ATOL, STUDIES


def _write_events(path: Path, study) -> list[str]:
    """The cases as events (their graphs as jets), columns in reverse spec order."""
    graph = study.spec.graph
    columns = [*graph.feature_names, *graph.graph_feature_names][::-1]
    lines = ["event,jet," + ",".join(columns)]
    for e, case in enumerate(study.cases.values()):
        batch = case.batch
        for j in range(batch.num_graphs):
            x, _ = batch.graph(j)
            jet = [] if batch.u is None else list(batch.u[j])
            for hit in x:
                values = dict(zip(columns[::-1], [*hit, *jet], strict=True))
                lines.append(f"{e},{j}," + ",".join(f"{values[c]:.9g}" for c in columns))
    path.write_text("\n".join(lines) + "\n")
    return columns


@pytest.mark.parametrize("per_jet", [False, True])
@pytest.mark.parametrize("name", STUDIES)
def test_plugin_rows_per_hit_equal_torch(
    reco_plugin: Path, study_models, tmp_path: Path, name: str, per_jet: bool
) -> None:
    study = study_models[name]
    _write_events(tmp_path / "events.csv", study)
    options = ["--per-jet"] if per_jet else []
    result = run_plugin(
        reco_plugin, study.path, tmp_path / "events.csv", tmp_path / "out.csv", *options
    )
    assert result.returncode == 0, result.stderr
    assert "one row per hit" in result.stdout
    rows = [line.split(",") for line in (tmp_path / "out.csv").read_text().splitlines()]
    got = {(int(r[0]), int(r[1]), int(r[2])): np.array(r[3:], np.float32) for r in rows}
    assert len(got) == sum(case.batch.num_nodes for case in study.cases.values())
    node_outputs = [o.name for o in study.spec.outputs if o.per_node]
    graph_outputs = [o.name for o in study.spec.outputs if not o.per_node]
    for e, (label, case) in enumerate(study.cases.items()):
        ptr = case.batch.node_ptr
        for j in range(case.batch.num_graphs):
            for hit in range(ptr[j], ptr[j + 1]):
                expected = np.concatenate(
                    [case.expected[o][hit] for o in node_outputs]
                    + [case.expected[o][j] for o in graph_outputs]
                )
                np.testing.assert_allclose(
                    got[e, j, hit - ptr[j]],
                    expected,
                    atol=ATOL,
                    rtol=0,
                    err_msg=f"{name} {label}: jet {j}, hit {hit - ptr[j]}",
                )
