"""Score files: the same column names in every format (score, or score_<k>), then the ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from e2e_gnn.io import write_scores

SUFFIXES = [".npz", ".csv", ".root", ".parquet"]


def _read_back(path: Path) -> dict[str, np.ndarray]:
    """Each format read with its own library, not with e2e_gnn."""
    if path.suffix == ".npz":
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    if path.suffix == ".csv":
        header = path.read_text().splitlines()[0].split(",")
        table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=str)
        return {name: table[:, i] for i, name in enumerate(header)}
    if path.suffix == ".root":
        return uproot.open(path)["Events"].arrays(library="np")
    table = pq.read_table(path)
    return {name: table[name].to_numpy() for name in table.column_names}


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("classes", [1, 2])
def test_same_columns_in_every_format(tmp_path: Path, suffix: str, classes: int) -> None:
    scores = np.array([[0.1, 0.9], [0.7, 0.3], [0.25, 0.75]], dtype=np.float32)[:, :classes]
    event = np.array([2**40 + 3, 4, 5], dtype=np.int64)  # exact also in csv
    back = _read_back(write_scores(tmp_path / f"s{suffix}", scores, event=event))
    names = ["score"] if classes == 1 else ["score_0", "score_1"]
    assert list(back) == [*names, "event"]
    for k, name in enumerate(names):
        np.testing.assert_allclose(back[name].astype(np.float32), scores[:, k], rtol=1e-7)
    assert [int(v) for v in back["event"]] == event.tolist()


def test_one_dimensional_scores_and_refusals(tmp_path: Path) -> None:
    back = _read_back(write_scores(tmp_path / "s.npz", np.array([0.5, 0.25])))
    assert list(back) == ["score"]
    with pytest.raises(ValueError, match=r"unsupported file type '\.h5'"):
        write_scores(tmp_path / "s.h5", np.zeros(3))
    with pytest.raises(ValueError, match=r"extra columns \['score'\] clash"):
        write_scores(tmp_path / "s.npz", np.zeros(3), score=np.zeros(3))
    with pytest.raises(ValueError, match=r"column 'event' has shape \[2\], expected .* \[3\]"):
        write_scores(tmp_path / "s.npz", np.zeros(3), event=np.zeros(2))
