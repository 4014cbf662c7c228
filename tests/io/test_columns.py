"""The column container of every result file: a TTree or a parquet table."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from e2e_gnn.io import ColumnWriter, CorruptFileError, MissingFileError, read_columns, write_columns

SUFFIXES = [".root", ".parquet"]


def test_writer_refusals(tmp_path: Path) -> None:
    formats = r"\('\.root', '\.parquet'\)"
    with pytest.raises(ValueError, match=rf"unsupported file type '\.h5'.*{formats}"):
        write_columns(tmp_path / "c.h5", {"a": np.zeros(2)})
    with pytest.raises(ValueError, match=r"differ in length: \{'a': 2, 'b': 3\}"):
        write_columns(tmp_path / "c.root", {"a": np.zeros(2), "b": np.zeros(3)})


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_column_writer_appends_chunks(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"chunks{suffix}"
    with ColumnWriter(path) as w:
        for start in (0, 3):
            w.write(
                {
                    "event": np.arange(start, start + 3),
                    "points": ak.zip({"e": ak.Array([[1.0] * (start + i) for i in range(3)])}),
                    "frame": np.full((3, 2, 2), start, dtype=np.float32),
                }
            )
        with pytest.raises(ValueError, match=r"has columns \['event'\], the first chunk had"):
            w.write({"event": np.arange(2)})
    assert w.rows == 6
    cols = read_columns(path)
    assert cols["event"].tolist() == [0, 1, 2, 3, 4, 5]
    counts = [0, 1, 2, 3, 4, 5]
    if suffix == ".root":
        assert cols["npoints"].tolist() == counts
    else:
        assert ak.num(cols["points"]).tolist() == counts
    assert ak.to_numpy(cols["frame"])[:, 0, 0].tolist() == [0, 0, 0, 3, 3, 3]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_truncated_files_are_named_on_one_line(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(0)
    path = write_columns(tmp_path / f"c{suffix}", {"a": rng.random((2000, 8))})
    data = path.read_bytes()
    # ROOT: the header and keys survive, the baskets do not (uproot's raw message was
    # "OSError: expected Chunk of length ...")
    path.write_bytes(data[: len(data) - 2000] if suffix == ".root" else data[:-100])
    with pytest.raises(CorruptFileError, match=rf"c{suffix}.*truncated") as err:
        read_columns(path)
    assert "\n" not in str(err.value)
    with pytest.raises(MissingFileError, match="nope"):
        read_columns(tmp_path / f"nope{suffix}")
