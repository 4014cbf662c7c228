"""The Pythia8 + FastJet generator: schema, labels, reproducibility, CLI, bad input."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")
uproot = pytest.importorskip("uproot")

from click.testing import CliRunner  # noqa: E402

from e2e_gnn.generate.cli import generate_command  # noqa: E402
from e2e_gnn.generate.detector import DetectorConfig  # noqa: E402
from e2e_gnn.generate.tasks import TASKS  # noqa: E402
from e2e_gnn.generate.writer import SCHEMA_VERSION, generate  # noqa: E402

# the contract: e2e_gnn generator schema v1
SCALARS = {"event": np.int64, "task": np.int32}
COLLECTIONS = {
    "Hit": {
        "eta": np.float32,
        "phi": np.float32,
        "energy": np.float32,
        "subdet": np.int32,
        "layer": np.int32,
        "ieta": np.int32,
        "iphi": np.int32,
        "truth_fraction": np.float32,
    },
    "Track": {
        "pt": np.float32,
        "eta": np.float32,
        "phi": np.float32,
        "d0": np.float32,
        "dz": np.float32,
        "charge": np.int32,
    },
    "PixelHit": {"eta": np.float32, "phi": np.float32, "layer": np.int32},
    "Jet": {
        "pt": np.float32,
        "eta": np.float32,
        "phi": np.float32,
        "mass": np.float32,
        "label": np.int32,
    },
    "SmallJet": {"pt": np.float32, "eta": np.float32, "phi": np.float32, "mass": np.float32},
    "Photon": {
        "pt": np.float32,
        "eta": np.float32,
        "phi": np.float32,
        "label": np.int32,
        "vx": np.float32,
        "vy": np.float32,
        "vz": np.float32,
        "lxy": np.float32,
    },
}
DISPLACED_JET = {"lxy": np.float32}
"""The displaced-photon task's jets also carry the L_xy of their truth photon."""
N_EVENTS = 40


@pytest.fixture(scope="module", params=sorted(TASKS))
def sample(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A small sample per task (MPI off to keep it quick), read back with uproot."""
    task = request.param
    path = tmp_path_factory.mktemp("gen") / f"{task}.root"
    generate(task, N_EVENTS, seed=7, out_path=path, workers=1, mpi=False, progress=False)
    with uproot.open(path) as file:
        tree = file["Events"]
        return task, tree.title, {b.name: b.interpretation for b in tree.branches}, tree.arrays()


def test_schema_branches_and_dtypes(sample) -> None:
    task, title, branches, arrays = sample
    assert title == SCHEMA_VERSION
    expected = dict(SCALARS)
    collections = dict(COLLECTIONS)
    if task == "displaced_photon":
        collections["Jet"] = COLLECTIONS["Jet"] | DISPLACED_JET
    for coll, members in collections.items():
        expected[f"n{coll}"] = np.int32
        expected.update({f"{coll}_{name}": dtype for name, dtype in members.items()})
    assert set(branches) == set(expected)
    for name, dtype in expected.items():
        inner = getattr(branches[name], "content", branches[name])
        assert inner.to_dtype == np.dtype(dtype), name
    assert len(arrays) == N_EVENTS
    assert arrays.event.tolist() == list(range(N_EVENTS))
    assert set(arrays.task.tolist()) == {TASKS[task].task_id}
    for coll, members in collections.items():
        for name in members:
            assert ak.all(arrays[f"n{coll}"] == ak.num(arrays[f"{coll}_{name}"])), (coll, name)


def test_value_ranges(sample) -> None:
    _, _, _, a = sample
    config = DetectorConfig()
    subdet = ak.flatten(a.Hit_subdet).to_numpy()
    ieta, iphi = ak.flatten(a.Hit_ieta).to_numpy(), ak.flatten(a.Hit_iphi).to_numpy()
    assert set(np.unique(subdet)) == {0, 1}
    ecal, hcal = subdet == 0, subdet == 1
    assert ieta[ecal].min() >= -85 and ieta[ecal].max() <= 84
    assert iphi[ecal].min() >= 0 and iphi[ecal].max() < 360
    assert ieta[hcal].min() >= -17 and ieta[hcal].max() <= 16
    assert iphi[hcal].min() >= 0 and iphi[hcal].max() < 72
    assert set(np.unique(ak.flatten(a.Hit_layer).to_numpy())) == {0, 1, 2}
    energy = ak.flatten(a.Hit_energy).to_numpy()
    assert energy[ecal].min() > config.ecal_threshold and energy[hcal].min() > config.hcal_threshold
    eta = ak.flatten(a.Hit_eta).to_numpy()
    np.testing.assert_allclose(eta[ecal], (ieta[ecal] + 0.5) * 0.0174, atol=1e-6)
    fraction = ak.flatten(a.Hit_truth_fraction).to_numpy()
    assert np.all((fraction == -1) | ((fraction >= 0) & (fraction <= 1)))
    assert (fraction >= 0).any() and (fraction == -1).any()
    assert set(np.unique(ak.flatten(a.Track_charge).to_numpy())) == {-1, 1}
    assert ak.min(a.Track_pt) > 0.3  # threshold 0.5 GeV minus resolution
    assert set(np.unique(ak.flatten(a.PixelHit_layer).to_numpy())) == {0, 1, 2, 3}
    assert ak.all(a.Jet_pt > 20) and ak.all(abs(a.Jet_eta) < 2.5)
    assert ak.all(a.Jet_mass >= 0)
    assert ak.all(abs(a.Photon_eta) < 1.479) and ak.all(a.Photon_pt > 20)


def test_labels_per_task_have_both_classes(sample) -> None:
    task, _, _, a = sample
    jet_labels = set(np.unique(ak.flatten(a.Jet_label).to_numpy()))
    photon_labels = set(np.unique(ak.flatten(a.Photon_label).to_numpy()))
    assert jet_labels <= {-1, 0, 1} and photon_labels <= {0, 1}
    if task == "photon":
        assert jet_labels == {-1}
        assert photon_labels == {0, 1}
        # prompt photons come from the signal (even) events only
        prompt_events = ak.any(a.Photon_label == 1, axis=1).to_numpy()
        assert not prompt_events[1::2].any()
    elif task == "displaced_photon":
        assert photon_labels == {0, 1} and {0, 1} <= jet_labels
        # decay photons of the long-lived scalar come from the signal (even) events only,
        # from vertices spread over the tracker and calorimeter; prompt ones from the origin
        signal = ak.flatten(a.Photon_label == 1).to_numpy()
        assert not ak.any(a.Photon_label == 1, axis=1).to_numpy()[1::2].any()
        lxy = ak.flatten(a.Photon_lxy).to_numpy()
        np.testing.assert_allclose(
            lxy, np.hypot(ak.flatten(a.Photon_vx), ak.flatten(a.Photon_vy)), rtol=1e-6
        )
        assert np.all(lxy[~signal] == 0)
        assert lxy[signal].min() < 10 and lxy[signal].max() > 100
        # a jet carries the L_xy of its truth photon: 0 for prompt, > 0 for signal
        jet_label, jet_lxy = ak.flatten(a.Jet_label).to_numpy(), ak.flatten(a.Jet_lxy).to_numpy()
        assert np.all(jet_lxy[jet_label == -1] == -1) and np.all(jet_lxy[jet_label == 0] == 0)
        assert np.all(jet_lxy[jet_label == 1] > 0)
    else:
        assert {0, 1} <= jet_labels
    if task in ("top", "tau"):
        # signal jets only in signal (even) events, background jets only in odd ones
        has_signal = ak.any(a.Jet_label == 1, axis=1).to_numpy()
        has_background = ak.any(a.Jet_label == 0, axis=1).to_numpy()
        assert not has_signal[1::2].any() and not has_background[0::2].any()


def _read(path: Path) -> ak.Array:
    with uproot.open(path) as file:
        return file["Events"].arrays()


def test_reproducible_with_seed_and_independent_of_workers(tmp_path: Path) -> None:
    kwargs = {"mpi": False, "progress": False, "chunk_size": 6}
    generate("tau", 12, 3, tmp_path / "a.root", workers=1, **kwargs)
    generate("tau", 12, 3, tmp_path / "b.root", workers=2, **kwargs)
    generate("tau", 12, 4, tmp_path / "c.root", workers=1, **kwargs)
    a, b, c = (_read(tmp_path / name) for name in ("a.root", "b.root", "c.root"))
    for field in a.fields:
        assert ak.array_equal(a[field], b[field]), field
    assert not ak.array_equal(a.Hit_energy, c.Hit_energy)
    assert not ak.array_equal(a.Track_pt, c.Track_pt)


def test_pileup_adds_activity(tmp_path: Path) -> None:
    kwargs = {"workers": 1, "mpi": False, "progress": False}
    generate("quark_gluon", 6, 5, tmp_path / "a.root", **kwargs)
    config = DetectorConfig(pileup_mean=10.0)
    generate("quark_gluon", 6, 5, tmp_path / "b.root", config=config, **kwargs)
    a, b = _read(tmp_path / "a.root"), _read(tmp_path / "b.root")
    # pile-up tracks and pixel hits come from vertices spread along z (sigma ~ 5 cm)
    assert ak.sum(b.nTrack) > ak.sum(a.nTrack) + 6 * 10 * 3
    assert ak.std(ak.flatten(b.Track_dz)) > 5 * ak.std(ak.flatten(a.Track_dz))
    # the jets are truth jets of the hard scatter: pile-up does not change them
    assert ak.array_equal(a.Jet_pt, b.Jet_pt)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "higgs"}, "unknown task 'higgs'"),
        ({"n_events": 0}, "n_events must be an integer >= 1, got 0"),
        ({"n_events": -5}, "n_events must be an integer >= 1, got -5"),
        ({"n_events": 2.5}, "n_events must be an integer >= 1, got 2.5"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"workers": 0}, "workers must be an integer >= 1, got 0"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    args = {"task": "quark_gluon", "n_events": 5, "seed": 1, "out_path": tmp_path / "x.root"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        generate(**args, progress=False)
    assert not (tmp_path / "x.root").exists()


def test_unknown_compression_and_missing_extra(tmp_path: Path) -> None:
    from e2e_gnn.generate.pythia import import_optional

    with pytest.raises(ValueError, match="unknown compression 'gzip'; expected one of"):
        generate("quark_gluon", 5, 1, tmp_path / "x.root", compression="gzip", progress=False)
    with pytest.raises(ModuleNotFoundError, match=r"pip install e2e-gnn\[gen\]"):
        import_optional("no_such_generator_dependency")


def test_bad_output_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        generate("quark_gluon", 5, 1, tmp_path / "missing" / "x.root", progress=False)


def test_cli_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "cli.root"
    args = ["--task", "photon", "--events", "4", "--workers", "1", "--no-mpi", "--out", str(out)]
    args += ["--compression", "zlib"]
    result = CliRunner().invoke(generate_command, args)
    assert result.exit_code == 0, result.output
    assert "wrote 4 photon events" in result.output
    assert _read(out).event.tolist() == [0, 1, 2, 3]


def test_cli_rejects_unknown_task(tmp_path: Path) -> None:
    args = ["--task", "higgs", "--events", "4", "--out", str(tmp_path / "x.root")]
    result = CliRunner().invoke(generate_command, args)
    assert result.exit_code == 2
    assert "'higgs' is not one of" in result.output


def test_displaced_photon_cli_and_layered_frames(tmp_path: Path) -> None:
    """``generate --task displaced_photon`` with its scalar options, then the layered
    frames of its jets and the threshold graphs of those frames."""
    from e2e_gnn.frames.cli import frames_command
    from e2e_gnn.graphs.from_frames import graphs_from_frames
    from e2e_gnn.io.frame_files import read_frames

    out = tmp_path / "displaced.root"
    args = ["--task", "displaced_photon", "--events", "20", "--workers", "1", "--no-mpi"]
    args += ["--alp-ctau", "150", "--out", str(out)]
    result = CliRunner().invoke(generate_command, args)
    assert result.exit_code == 0, result.output
    a = _read(out)
    lxy = ak.flatten(a.Photon_lxy[a.Photon_label == 1]).to_numpy()
    assert lxy.size >= 8 and np.std(lxy) > 20  # cm
    frames_out = tmp_path / "layered.root"
    result = CliRunner().invoke(
        frames_command, [str(out), "--kind", "layered", "--out", str(frames_out)]
    )
    assert result.exit_code == 0, result.output
    frames = read_frames(frames_out)
    assert {0, 1} <= set(frames.columns["label"].tolist())
    data = frames.frames.frames
    assert data.ndim == 5 and data.shape[2] == 6  # [B, 1, ECAL 0-2 + HCAL 0-2, 15, 15]
    graphs = graphs_from_frames(data, edges="threshold", same_layer=0.2, adjacent_layer=0.3)
    assert graphs.num_graphs == data.shape[0] and graphs.edge_index.shape[1] > 0


def test_alp_options_belong_to_the_displaced_photon_task(tmp_path: Path) -> None:
    out = str(tmp_path / "x.root")
    result = CliRunner().invoke(
        generate_command, ["--task", "photon", "--alp-mass", "5", "--events", "2", "--out", out]
    )
    assert result.exit_code == 2
    assert "--alp-mass and --alp-ctau apply to --task displaced_photon, not 'photon'" in (
        result.output
    )
    result = CliRunner().invoke(
        generate_command,
        ["--task", "displaced_photon", "--alp-mass", "70", "--events", "2", "--out", out],
    )
    assert result.exit_code == 2
    assert "ALP mass must be in (0, 62.5) GeV (H -> a a), got 70.0" in result.output
