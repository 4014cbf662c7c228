"""`e2e-gnn generate` reports progress also when its output is not a terminal (logs, CI)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from click.testing import CliRunner

from e2e_gnn.generate import writer
from e2e_gnn.generate.cli import generate_command

LINE = re.compile(r"^generating photon: (\d+)/(\d+) events \((\d+) %\), [0-9.]+ s", re.M)


def test_cli_prints_progress_lines_when_not_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "cli.root"
    args = ["--task", "photon", "--events", "3", "--workers", "1", "--no-mpi", "--out", str(out)]
    result = CliRunner().invoke(generate_command, args)
    assert result.exit_code == 0, result.output
    # the progress goes to standard error, the summary to standard output
    assert [m.groups() for m in LINE.finditer(result.stderr)] == [("3", "3", "100")]
    assert re.search(r"^wrote 3 photon events to .*cli\.root in [0-9.]+ s$", result.stdout, re.M)


def test_progress_line_every_few_seconds_and_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(writer, "PROGRESS_EVERY", 0.0)  # every chunk
    writer.generate("photon", 5, 1, tmp_path / "p.root", workers=1, mpi=False, chunk_size=2)
    err = capsys.readouterr().err
    assert [m.groups()[:2] for m in LINE.finditer(err)] == [("2", "5"), ("4", "5"), ("5", "5")]
    assert err.count("s left") == 2  # an estimate on every line but the last


def test_no_progress_when_switched_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    writer.generate("photon", 2, 1, tmp_path / "q.root", workers=1, mpi=False, progress=False)
    assert capsys.readouterr().err == ""
