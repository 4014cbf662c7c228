"""The dask-awkward column of e2e_gnn scores on the real NanoAOD file: lazy, read only the
feature branches, computed on dask workers, equal to the Tagger on the same jets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from e2e_gnn import Tagger
from e2e_gnn.runtime.dask_awkward import tag_objects

dak = pytest.importorskip("dask_awkward")
NANOAOD = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
)
JET_FIELDS = ("pt", "eta", "phi", "mass")
pytestmark = pytest.mark.skipif(
    not NANOAOD.is_file(),
    reason=f"real CMS Open Data NanoAOD file not found at {NANOAOD} (see ../shared/data/README.md)",
)


def reference(model: Path, min_pt: float) -> tuple[np.ndarray, np.ndarray]:
    """(has jets, Tagger score per event with jets) of the jets above ``min_pt``, from the
    file read eagerly by uproot."""
    import uproot

    jets = uproot.open(NANOAOD)["Events"].arrays([f"Jet_{f}" for f in JET_FIELDS])
    jets = jets[jets["Jet_pt"] > min_pt]
    counts = ak.to_numpy(ak.num(jets["Jet_pt"]))
    x = np.stack([ak.to_numpy(ak.flatten(jets[f"Jet_{f}"])) for f in JET_FIELDS], axis=1)
    has = counts > 0
    with Tagger(model, backend="native") as tagger:
        scores = tagger.tag_nodes(x, np.concatenate([[0], np.cumsum(counts[has])]))[:, 0]
    return has, scores


def assert_column(column: ak.Array, model: Path, min_pt: float = 0.0) -> None:
    has, scores = reference(model, min_pt)
    assert len(column) == len(has) == 200
    np.testing.assert_array_equal(ak.to_numpy(ak.is_none(column)), ~has)
    # the same native runtime on the same graphs: bit for bit
    np.testing.assert_array_equal(ak.to_numpy(column[has]), scores)


def test_uproot_dask_column_on_two_workers_equals_the_tagger(jet_tagger: Path) -> None:
    distributed = pytest.importorskip("distributed")
    import uproot

    events = uproot.dask({str(NANOAOD): "Events"}, step_size=60)
    assert events.npartitions > 1
    jets = dak.zip({f: events[f"Jet_{f}"] for f in JET_FIELDS})
    column = tag_objects(jets, jet_tagger)
    (read,) = dak.necessary_columns(column).values()
    assert set(read) <= {f"Jet_{f}" for f in JET_FIELDS} | {"nJet"}
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        assert_column(column.compute(), jet_tagger)


def test_an_eager_array_gives_the_same_column(jet_tagger: Path) -> None:
    import uproot

    events = uproot.open(NANOAOD)["Events"].arrays([f"Jet_{f}" for f in JET_FIELDS])
    jets = ak.zip({f: events[f"Jet_{f}"] for f in JET_FIELDS})
    assert_column(tag_objects(jets, jet_tagger), jet_tagger)


def test_a_missing_feature_field_is_named(jet_tagger: Path) -> None:
    jets = ak.Array([[{"pt": 1.0, "eta": 0.0, "phi": 0.0}]])
    with pytest.raises(ValueError, match=r"no field\(s\) \['mass'\].*features=\{feature: field\}"):
        tag_objects(jets, jet_tagger)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # coffea's notes on this file's branches
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_inside_a_coffea_processor(jet_tagger: Path) -> None:
    pytest.importorskip("coffea")
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    example = Path(__file__).parents[2] / "examples" / "coffea_jet_tagger.py"
    spec = importlib.util.spec_from_file_location("coffea_jet_tagger", example)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    events = NanoEventsFactory.from_root(
        {str(NANOAOD): "Events"}, schemaclass=NanoAODSchema, mode="dask"
    ).events()
    import dask

    (result,) = dask.compute(module.JetTaggerProcessor(jet_tagger, cut=0.57).process(events))
    assert result["events"] == 200
    assert_column(result["score"], jet_tagger, min_pt=15.0)  # the example's jet selection
    assert result["passed"] == ak.sum(result["score"] > 0.57)
