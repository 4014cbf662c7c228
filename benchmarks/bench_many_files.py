"""Many files: graphs/s of ``infer_files`` and events/s of the dask-awkward column vs workers.

1. ``infer_files`` over FILES graph files of GRAPHS toy jets each (20-80 nodes, kNN k = 8,
   an EdgeConvTagger 64 wide, 3 layers, exported to ONNX), native runtime, one ONNX Runtime
   thread per worker: in this process (local, 1 worker), on 2 local processes, and on a
   dask LocalCluster of 1 and 2 worker processes (started before the clock; its start-up
   is given apart). Every run writes its outputs anew (a fresh directory).
2. ``tag_objects`` on the real NanoAOD file (200 events) read COPIES times through
   ``uproot.dask`` (one partition per copy): events/s of the column computed on a
   LocalCluster of 1 and 2 workers, reading included.

This machine has 2 cores shared with other work: the 2-worker numbers are an upper bound of
what 2 cores give, not a scaling law. Usage:

    PYTHONPATH=python python benchmarks/bench_many_files.py [--files 8] [--graphs 2000]

Writes benchmarks/results/many_files.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "many_files.json"
NANOAOD = ROOT / ".." / "shared" / "data" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
JET_FIELDS = ("pt", "eta", "phi", "mass")


def export_model(path: Path, feature_names: tuple[str, ...], coordinates: tuple[str, str]) -> Path:
    import torch

    from e2e_gnn.export import export_onnx
    from e2e_gnn.export.parity import default_example
    from e2e_gnn.nn.models import EdgeConvTagger
    from e2e_gnn.spec import GraphSpec, ModelSpec

    torch.manual_seed(0)
    graph = GraphSpec(
        feature_names=feature_names,
        builder="knn",
        k=8,
        coordinates=coordinates,
        coordinate_scale=(1.0, 1.0),
    )
    model = EdgeConvTagger(len(feature_names), hidden=64, num_layers=3).eval()
    spec = ModelSpec(
        name=path.stem,
        model_class="EdgeConvTagger",
        hyperparameters=model.hyperparameters,
        graph=graph,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(model, spec, path, default_example(spec))
    return path


def graph_files(folder: Path, files: int, graphs: int) -> list[Path]:
    from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC, graphs_from_features, random_features
    from e2e_gnn.io import write_graphs

    paths = []
    for i in range(files):
        rng = np.random.default_rng(i)
        sizes = rng.integers(20, 81, size=graphs).tolist()
        batch = graphs_from_features(random_features(rng, sizes, 4), TOY_GRAPH_SPEC)
        event = np.arange(graphs, dtype=np.int64) + i * graphs
        paths.append(
            write_graphs(
                folder / f"part{i}.root",
                batch,
                feature_names=TOY_GRAPH_SPEC.feature_names,
                event=event,
            )
        )
    return paths


def many_files(work: Path, files: int, graphs: int) -> dict[str, Any]:
    from distributed import LocalCluster

    from e2e_gnn import infer_files
    from e2e_gnn.graphs.synthetic import TOY_FEATURES

    model = export_model(work / "toy.onnx", TOY_FEATURES, ("deta", "dphi"))
    inputs = graph_files(work / "inputs", files, graphs)
    rates: dict[str, float] = {}
    runs = 0

    def run(name: str, **how: Any) -> None:
        nonlocal runs
        runs += 1
        start = time.perf_counter()
        summary = infer_files(model, inputs, work / f"out{runs}", **how)
        seconds = time.perf_counter() - start
        assert summary.ok and summary.written == files, summary.lines()
        rates[name] = summary.rows / seconds
        print(f"{name}: {rates[name]:.0f} graphs/s", flush=True)

    run("local, 1 worker (in process)", workers=1)
    run("local, 2 processes (spawned per run)", workers=2)
    startup = {}
    for workers in (1, 2):
        start = time.perf_counter()
        with LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            startup[workers] = time.perf_counter() - start
            run(f"dask, {workers} worker(s)", executor="dask", scheduler=cluster.scheduler_address)
    return {
        "files": files,
        "graphs_per_file": graphs,
        "nodes_per_graph": "20-80",
        "model": "EdgeConvTagger hidden 64, 3 layers, kNN k=8",
        "graphs_per_s": rates,
        "local_cluster_startup_s": startup,
    }


def column(work: Path, copies: int) -> dict[str, Any]:
    import awkward as ak
    import dask_awkward as dak
    import uproot
    from distributed import Client, LocalCluster

    from e2e_gnn.runtime.dask_awkward import tag_objects

    model = export_model(work / "jets.onnx", JET_FIELDS, ("eta", "phi"))
    (work / "nano").mkdir()
    files = {}
    for i in range(copies):
        link = work / "nano" / f"copy{i}.root"
        link.symlink_to(NANOAOD.resolve())
        files[str(link)] = "Events"
    rates = {}
    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster),
        ):
            events = uproot.dask(files, open_files=False)
            jets = dak.zip({f: events[f"Jet_{f}"] for f in JET_FIELDS})
            tag_objects(jets[:1], model).compute()  # workers load the model once
            start = time.perf_counter()
            scores = tag_objects(jets, model).compute()
            seconds = time.perf_counter() - start
            rates[f"{workers} worker(s)"] = len(scores) / seconds
            print(f"column, {workers} worker(s): {rates[f'{workers} worker(s)']:.0f} events/s")
    jets = uproot.open(NANOAOD)["Events"].arrays([f"Jet_{f}" for f in JET_FIELDS])
    jets = ak.zip({f: jets[f"Jet_{f}"] for f in JET_FIELDS})
    tag_objects(jets, model)
    start = time.perf_counter()
    for _ in range(10):
        tag_objects(jets, model)
    rates["tagging alone (eager, in process)"] = 10 * len(jets) / (time.perf_counter() - start)
    print(f"column, tagging alone: {rates['tagging alone (eager, in process)']:.0f} events/s")
    return {
        "events": 200 * copies,
        "partitions": copies,
        "model": "EdgeConvTagger hidden 64, 3 layers, kNN k=8 over the jets (pt, eta, phi, mass)",
        "events_per_s": rates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--graphs", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        results: dict[str, Any] = {
            "infer_files": many_files(Path(work), args.files, args.graphs),
            "column": column(Path(work), args.copies) if NANOAOD.is_file() else None,
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load_average_1min_at_end": os.getloadavg()[0],
            "machine": platform.processor() or platform.machine(),
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("\n| run | rate |\n|---|---:|")
    for name, rate in results["infer_files"]["graphs_per_s"].items():
        print(f"| infer_files, {name} | {rate:.0f} graphs/s |")
    for name, rate in (results["column"] or {}).get("events_per_s", {}).items():
        print(f"| tag_objects column, {name} | {rate:.0f} events/s |")


if __name__ == "__main__":
    main()
