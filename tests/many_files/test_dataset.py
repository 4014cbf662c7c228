"""Scores as one parquet dataset (``e2e-gnn infer --format dataset``, ``infer_files(...,
dataset=True)``): the per-file outputs' rows in one table, restartable, and a crash never
leaves a part a reader of the dataset would take."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from click.testing import CliRunner

from e2e_gnn import infer_files
from e2e_gnn.cli import main
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.io import read_columns, read_graphs, write_graphs

pq = pytest.importorskip("pyarrow.parquet")
pads = pytest.importorskip("pyarrow.dataset")


def read_dataset(out: Path) -> dict[str, np.ndarray]:
    """The dataset ``out`` as pyarrow reads it (one table), rows sorted by (file, row);
    awkward and pandas must read the same table."""
    table = pads.dataset(out, format="parquet").to_table()
    columns = {name: np.asarray(table[name].to_pylist()) for name in table.column_names}
    order = np.lexsort((columns["row"], columns["file"]))
    by_awkward = ak.from_parquet(out)
    assert len(by_awkward) == table.num_rows
    read_by_awkward = zip(
        ak.to_list(by_awkward["file"]), ak.to_list(by_awkward["row"]), strict=True
    )
    read_by_arrow = zip(columns["file"].tolist(), columns["row"].tolist(), strict=True)
    assert sorted(read_by_awkward) == sorted(read_by_arrow)
    pandas = pytest.importorskip("pandas")
    assert len(pandas.read_parquet(out)) == table.num_rows
    return {name: values[order] for name, values in columns.items()}


def assert_dataset(
    out: Path, inputs: list[Path], reference: dict[str, np.ndarray], stems: list[str] | None = None
) -> None:
    """The dataset holds every graph of ``inputs`` once, with the reference score (bit for
    bit: the same native runtime) and the input's event ids, and nothing else."""
    data = read_dataset(out)
    expected_file, expected_row, expected_score, expected_event = [], [], [], []
    pairs = zip(inputs, stems or [p.stem for p in inputs], strict=True)
    for path, stem in sorted(pairs, key=lambda pair: str(pair[0])):
        scores = reference[stem]
        expected_file += [str(path)] * len(scores)
        expected_row.append(np.arange(len(scores)))
        expected_score.append(scores)
        expected_event.append(read_graphs(path).columns["event"])
    np.testing.assert_array_equal(data["file"], expected_file)
    np.testing.assert_array_equal(data["row"], np.concatenate(expected_row))
    np.testing.assert_array_equal(data["score"], np.concatenate(expected_score))
    np.testing.assert_array_equal(data["event"], np.concatenate(expected_event))
    assert not list(out.parent.glob(f".{out.name}.incomplete")), "staging left behind"


def test_the_dataset_holds_the_rows_of_the_per_file_outputs(
    model: Path, graph_files: list[Path], reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    per_file = infer_files(model, graph_files, tmp_path / "files", workers=1)
    assert per_file.ok, per_file.lines()
    out = tmp_path / "scores"
    dataset = ["--format", "dataset", "--workers", "2"]
    result = CliRunner().invoke(
        main,
        ["infer", "--model", str(model), *map(str, graph_files), "--out", str(out), *dataset],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().startswith(f"{len(graph_files)} files: {len(graph_files)} written")
    assert_dataset(out, graph_files, reference)
    # the same rows and columns as the per-file outputs, whatever the order
    data = read_dataset(out)
    files = [read_columns(tmp_path / "files" / f"{p.stem}.parquet") for p in graph_files]
    assert set(data) == set(files[0])
    for name in data:
        together = np.concatenate([ak.to_numpy(f[name]) for f in files])
        keys = np.concatenate([ak.to_numpy(f["row"]) for f in files])
        names = np.concatenate([ak.to_numpy(f["file"]).astype(str) for f in files])
        np.testing.assert_array_equal(data[name], together[np.lexsort((keys, names))])


def test_inputs_of_one_stem_get_parts_of_their_own(
    model: Path, graph_files: list[Path], reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    twin = tmp_path / "elsewhere" / graph_files[0].name
    twin.parent.mkdir()
    shutil.copy(graph_files[0], twin)
    out = tmp_path / "scores"
    summary = infer_files(model, [graph_files[0], twin], out, dataset=True, workers=1)
    assert summary.ok and summary.written == 2, summary.lines()
    assert len(set(summary.outputs)) == 2
    stem = graph_files[0].stem
    assert_dataset(out, [graph_files[0], twin], reference, [stem, stem])


def test_a_rerun_skips_the_complete_parts(
    model: Path, graph_files: list[Path], reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    out = tmp_path / "scores"
    first = infer_files(model, graph_files[:2], out, dataset=True, workers=1)
    assert first.written == 2, first.lines()
    done = {p: Path(p).stat().st_mtime_ns for p in first.outputs}
    second = infer_files(model, graph_files, out, dataset=True, workers=1)
    assert second.ok, second.lines()
    assert (second.skipped, second.written) == (2, 2)
    assert {p: Path(p).stat().st_mtime_ns for p in done} == done
    assert_dataset(out, graph_files, reference)


CRASH = """
import os, sys
from e2e_gnn.runtime import many_files

class Crash(many_files.ColumnWriter):
    def write(self, columns):
        super().write(columns)  # a row group on disk, the file not finished
        if {victim!r} in self.path.name:
            os._exit(3)

many_files.ColumnWriter = Crash
many_files.infer_files({model!r}, {inputs!r}, {out!r}, dataset=True, workers=1)
"""


def test_a_crash_mid_part_leaves_no_part_that_looks_complete(
    model: Path, graph_files: list[Path], reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    out = tmp_path / "scores"
    victim = graph_files[2].stem
    script = CRASH.format(
        victim=victim, model=str(model), inputs=list(map(str, graph_files)), out=str(out)
    )
    crashed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[2] / "python")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert crashed.returncode == 3, crashed.stderr
    staging = out.parent / f".{out.name}.incomplete"
    assert next(p.name for p in staging.iterdir()).startswith(f".{victim}-"), "no partial part"
    # what a reader of the dataset sees: the two parts finished before the crash, whole
    before = read_dataset(out)
    assert set(before["file"]) == {str(p) for p in graph_files[:2]}
    rerun = infer_files(model, graph_files, out, dataset=True, workers=1)
    assert rerun.ok, rerun.lines()
    assert (rerun.skipped, rerun.written) == (2, 2)
    assert_dataset(out, graph_files, reference)


def test_a_part_of_another_schema_is_refused(
    model: Path, graph_files: list[Path], tmp_path: Path, make_graphs
) -> None:
    odd = tmp_path / "inputs" / "labelled.root"
    odd.parent.mkdir()
    graphs = make_graphs([5, 7, 9], 4, seed=9)
    names = TOY_GRAPH_SPEC.feature_names
    write_graphs(odd, graphs, feature_names=names, event=np.arange(3), weight=np.ones(3))
    out = tmp_path / "scores"
    summary = infer_files(model, [*graph_files[:2], odd], out, dataset=True, workers=1)
    assert summary.written == 2
    ((path, reason),) = summary.failures
    assert path == str(odd)
    assert "'weight'" in reason and "one dataset needs one schema" in reason, reason
    assert len(read_dataset(out)["row"]) == sum(
        read_graphs(p).graphs.num_graphs for p in graph_files[:2]
    )


def test_a_dataset_is_parquet(model: Path, graph_files: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="a dataset is written as parquet, not '.root'"):
        infer_files(model, graph_files, tmp_path / "o", dataset=True, suffix=".root")


def test_node_outputs_in_a_dataset_are_the_per_file_jagged_columns(
    node_export, tmp_path: Path
) -> None:
    from e2e_gnn.graphs.from_frames import graphs_from_spec

    _, spec, model = node_export
    inputs = []
    for i, sizes in enumerate([[3, 1, 6], [5, 2]]):
        rng = np.random.default_rng(i)
        x = rng.normal(size=(sum(sizes), spec.num_features)).astype(np.float32)
        u = rng.normal(size=(len(sizes), spec.num_graph_features)).astype(np.float32)
        path = tmp_path / "inputs" / f"nodes{i}.parquet"
        write_graphs(
            path,
            graphs_from_spec(x, np.cumsum([0, *sizes]), spec.graph, u=u),
            feature_names=spec.graph.feature_names,
            graph_feature_names=spec.graph.graph_feature_names,
            event=np.arange(len(sizes)) + 10 * i,
        )
        inputs.append(path)
    assert infer_files(model, inputs, tmp_path / "files", workers=1).ok
    summary = infer_files(model, inputs, tmp_path / "scores", dataset=True, workers=1)
    assert summary.ok and summary.rows == 5, summary.lines()
    table = ak.from_parquet(tmp_path / "scores")
    for path in inputs:
        part = table[table.file == str(path)]
        alone = ak.from_parquet(tmp_path / "files" / f"{path.stem}.parquet")
        assert part.fields == alone.fields and "node_index" in part.fields
        for name in alone.fields:  # jagged per-node columns included, row for row
            assert ak.to_list(part[name]) == ak.to_list(alone[name]), name
