"""Many files on this machine's processes and on a dask LocalCluster: the same scores as one
Tagger on each file, every graph exactly once, restartable, bad files reported."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from e2e_gnn import infer_files
from e2e_gnn.cli import main
from e2e_gnn.io import read_columns, read_graphs
from e2e_gnn.runtime.many_files import expand_inputs


def assert_outputs(out: Path, graph_files: list[Path], reference: dict[str, np.ndarray]) -> None:
    """Every input's output holds each of its graphs exactly once, with the reference score
    (bit for bit: the same native runtime on the same graphs) and the input's event ids."""
    for path in graph_files:
        columns = read_columns(out / f"{path.stem}.parquet")
        rows = columns["row"].to_numpy()
        assert sorted(rows.tolist()) == list(range(len(reference[path.stem])))
        np.testing.assert_array_equal(
            columns["score"].to_numpy()[np.argsort(rows)], reference[path.stem]
        )
        events = read_graphs(path).columns["event"]
        np.testing.assert_array_equal(columns["event"].to_numpy(), events[rows])
        assert set(columns["file"].to_list()) == {str(path)}
    assert not list(out.glob(".*.part.*")), "a temporary file was left behind"


def test_dask_and_local_processes_give_the_single_process_scores(
    model: Path, graph_files: list[Path], reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    for executor in ("local", "dask"):
        out = tmp_path / executor
        summary = infer_files(model, graph_files, out, executor=executor, workers=2)
        assert summary.ok, summary.lines()
        assert summary.written == len(graph_files)
        assert summary.rows == sum(len(s) for s in reference.values())
        assert_outputs(out, graph_files, reference)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    model: Path, graph_files: list[Path], reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    marker = tmp_path / "killed"
    victim = graph_files[2].stem

    class KillOnce(distributed.WorkerPlugin):
        """Kills its worker process the first time a task of ``victim`` starts."""

        def transition(self, key: str, start: str, finish: str, **kwargs: object) -> None:
            if finish == "executing" and victim in str(key) and not marker.exists():
                marker.touch()
                os._exit(1)

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.register_plugin(KillOnce())
        out = tmp_path / "out"
        summary = infer_files(
            model, graph_files, out, executor="dask", scheduler=cluster.scheduler_address
        )
    assert marker.exists(), "the worker was never killed"
    assert summary.ok, summary.lines()
    # the killed task may have written its output before its process died: the retry then
    # finds it complete and skips it
    assert summary.written + summary.skipped == len(graph_files)
    assert_outputs(out, graph_files, reference)


def test_a_second_run_skips_what_is_done_and_completes_the_rest(
    model: Path, graph_files: list[Path], reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = infer_files(model, graph_files[:2], out, workers=1)
    assert first.written == 2
    done = {p.stem: (out / f"{p.stem}.parquet").stat().st_mtime_ns for p in graph_files[:2]}
    # what an interrupted run may leave: a temporary file, and a foreign truncated output
    (out / f".{graph_files[2].stem}.0123456789ab.part.parquet").write_bytes(b"PAR1")
    (out / f"{graph_files[3].stem}.parquet").write_bytes(b"PAR1 truncated")
    second = infer_files(model, graph_files, out, workers=1)
    assert second.ok, second.lines()
    assert (second.skipped, second.written) == (2, 2)
    assert {s: (out / f"{s}.parquet").stat().st_mtime_ns for s in done} == done
    assert_outputs(out, graph_files, reference)


def test_a_corrupt_file_is_reported_and_the_others_complete(
    model: Path, graph_files: list[Path], reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    bad = tmp_path / "inputs" / "broken.root"
    bad.parent.mkdir()
    data = graph_files[0].read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    listing = tmp_path / "files.txt"
    listing.write_text("\n".join([*map(str, graph_files), str(bad), "# a comment", ""]))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["infer", "--model", str(model), str(listing), "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0].startswith(f"{len(graph_files) + 1} files: {len(graph_files)} written")
    assert any(x.startswith(f"FAILED {bad}: ") and "truncated" in x for x in lines), result.output
    assert "Traceback" not in result.output
    for path in graph_files:
        score = read_columns(out / f"{path.stem}.parquet")["score"].to_numpy()
        np.testing.assert_array_equal(score, reference[path.stem])
    assert not (out / "broken.parquet").exists()


def test_inputs_from_globs_and_lists(graph_files: list[Path], tmp_path: Path) -> None:
    folder = graph_files[0].parent
    listing = tmp_path / "more.txt"
    listing.write_text(f"{graph_files[1]}\n{folder}/part*.root\n")
    assert expand_inputs([str(graph_files[0]), str(listing)]) == [
        graph_files[0],
        graph_files[1],
        *[p for p in graph_files if p not in graph_files[:2]],
    ]
    with pytest.raises(ValueError, match=r"pattern '.*nothing\*\.root' matches no file"):
        expand_inputs([str(folder / "nothing*.root")])


def test_two_inputs_of_one_stem_are_refused(
    model: Path, graph_files: list[Path], tmp_path: Path
) -> None:
    twin = tmp_path / "elsewhere" / graph_files[0].name
    twin.parent.mkdir()
    shutil.copy(graph_files[0], twin)
    result = CliRunner().invoke(
        main,
        [
            "infer",
            "--model",
            str(model),
            str(graph_files[0]),
            str(twin),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 1
    assert f"would both write {graph_files[0].stem}.parquet" in result.output


def test_a_local_worker_killed_mid_run_loses_and_duplicates_nothing(
    model: Path, graph_files: list[Path], reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    import multiprocessing
    import signal

    killed: list[int] = []

    def kill_once(result: object) -> None:
        """At the first finished file, kills the pool's worker processes (SIGKILL)."""
        if not killed:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)
                killed.append(child.pid)

    out = tmp_path / "out"
    summary = infer_files(model, graph_files, out, workers=2, progress=kill_once)
    assert killed, "no worker process was killed"
    assert summary.ok, summary.lines()
    assert summary.written + summary.skipped == len(graph_files)
    assert_outputs(out, graph_files, reference)
