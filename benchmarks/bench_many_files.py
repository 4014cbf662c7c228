"""Many files: graphs/s of ``infer_files`` and events/s of the dask-awkward column vs workers
and backend, and the per-stage costs a cluster projection starts from.

1. Stages, in this process, per graph of one file (best of 3): reading the graph file,
   building its kNN graphs again from the nodes (what a task on event files does), the
   native runtime, a Triton server (the CPU tritonserver of .venv-triton, python-backend
   model, gRPC, 1024 graphs per request) and writing the scores; the bytes per graph a
   request carries.
2. ``infer_files`` over FILES graph files of GRAPHS toy jets each (20-80 nodes, kNN k = 8,
   an EdgeConvTagger 64 wide, 3 layers, exported to ONNX), one ONNX Runtime thread per
   worker: native in this process (local, 1 worker), on 2 local processes, on a dask
   LocalCluster of 1 and 2 worker processes (started before the clock; its start-up is
   given apart), and with the Triton server as every worker's backend (1 and 2 local
   processes). Every run writes its outputs anew (a fresh directory).
3. ``tag_objects`` on the real NanoAOD file (200 events) read COPIES times through
   ``uproot.dask`` (one partition per copy): events/s of the column computed on a
   LocalCluster of 1 and 2 workers, reading included.

This machine has 2 cores shared with other work (the load average is recorded with every
run): the 2-worker numbers are an upper bound of what 2 cores give, not a scaling law, and
the Triton server shares the same 2 cores. Usage:

    python benchmarks/bench_many_files.py [--files 8] [--graphs 2000] [--layers 3] [--quick]

Writes benchmarks/results/many_files.json and prints a markdown table.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import _common

ROOT = Path(__file__).resolve().parents[1]
NANOAOD = ROOT / ".." / "shared" / "data" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
JET_FIELDS = ("pt", "eta", "phi", "mass")


def export_model(
    path: Path, feature_names: tuple[str, ...], coordinates: tuple[str, str], layers: int
) -> Path:
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
    model = EdgeConvTagger(len(feature_names), hidden=64, num_layers=layers).eval()
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


def triton_server(model: Path, repository: Path) -> Any:
    """The CPU tritonserver serving ``model`` (python-backend variant), not yet started;
    None when no tritonserver is installed (scripts/install_triton.sh)."""
    from e2e_gnn.triton import TritonServer, TritonServerError, find_tritonserver, write_repository

    try:
        find_tritonserver()
    except TritonServerError as err:
        print(f"no Triton rows: {err}")
        return None
    write_repository(model, repository, name="toy", variants=("python",))
    return TritonServer(repository, startup_timeout_s=120)


def stages(model: Path, path: Path, triton_url: str | None) -> dict[str, Any]:
    """Per-graph microseconds of each stage of a task, on the graphs of ``path``."""
    from e2e_gnn import Tagger
    from e2e_gnn.graphs.from_frames import graphs_from_spec
    from e2e_gnn.io import read_graphs

    native = Tagger(model, backend="native", threads=1)
    spec = native.spec
    assert spec.graph is not None
    graphs = read_graphs(path, feature_names=spec.graph.feature_names).graphs
    scores = native.score(graphs)
    count = graphs.num_graphs
    timers = {
        "read the graph file": lambda: read_graphs(path, feature_names=spec.graph.feature_names),
        "build the kNN graphs (native)": lambda: graphs_from_spec(
            graphs.x, graphs.node_ptr, spec.graph
        ),
        "inference, native in the worker": lambda: native.score(graphs, 1024),
        "write the scores (parquet)": lambda: _write(path.parent / "stage.parquet", scores),
    }
    triton = None
    if triton_url is not None:
        triton = Tagger(model, backend="triton", url=triton_url, protocol="grpc")
        np.testing.assert_allclose(triton.score(graphs, 1024), scores, atol=1e-5)
        timers["inference, Triton server (gRPC, 1024 graphs/request)"] = lambda: triton.score(
            graphs, 1024
        )
    clocks = {"wall": time.perf_counter, "cpu": time.process_time}
    samples = _common.interleaved(
        {
            (name, clock): _common.timer(run, count, clocks[clock])
            for name, run in timers.items()
            for clock in clocks
        },
        3,
    )
    request = sum(a.nbytes for a in graphs.inputs().values()) / count
    return {
        "graphs": count,
        "nodes_per_graph": graphs.num_nodes / count,
        "us_per_graph": {k: round(min(samples[k, "wall"]) * 1e6, 1) for k in timers},
        # CPU time of this process (the worker): robust to the load of a shared machine;
        # for Triton, what the worker spends (serialising, the client), not the server
        "us_per_graph_cpu_of_the_worker": {
            k: round(min(samples[k, "cpu"]) * 1e6, 1) for k in timers
        },
        "request_bytes_per_graph": {
            "x, edge_index, batch (edges built on the worker)": round(request),
            "x, batch (edges built on the server)": round(
                (graphs.x.nbytes + graphs.batch.nbytes) / count
            ),
        },
        "score_bytes_per_graph": scores.nbytes / count,
    }


def _write(path: Path, scores: np.ndarray) -> None:
    from e2e_gnn.io.columns import ColumnWriter
    from e2e_gnn.io.score_files import score_columns

    with ColumnWriter(path) as writer:
        writer.write(score_columns(scores, row=np.arange(len(scores))))


def many_files(
    work: Path, files: int, graphs: int, clusters: tuple[int, ...], layers: int
) -> dict[str, Any]:
    from distributed import LocalCluster

    from e2e_gnn import infer_files
    from e2e_gnn.graphs.synthetic import TOY_FEATURES

    model = export_model(work / "toy.onnx", TOY_FEATURES, ("deta", "dphi"), layers)
    inputs = graph_files(work / "inputs", files, graphs)
    rates: dict[str, float] = {}
    load: dict[str, float] = {}
    runs = 0

    def run(name: str, **how: Any) -> None:
        nonlocal runs
        runs += 1
        start = time.perf_counter()
        summary = infer_files(model, inputs, work / f"out{runs}", **how)
        seconds = time.perf_counter() - start
        assert summary.ok and summary.written == files, summary.lines()
        rates[name] = round(summary.rows / seconds, 1)
        load[name] = round(os.getloadavg()[0], 2)
        print(f"{name}: {rates[name]:.0f} graphs/s (load {load[name]})", flush=True)

    server = triton_server(model, work / "triton")
    stage_costs = None
    if server is not None:
        with server:
            stage_costs = stages(model, inputs[0], server.grpc_url)
            triton = {"backend": "triton", "url": server.grpc_url, "protocol": "grpc"}
            run("local, 1 worker (in process), Triton backend", workers=1, **triton)
            run("local, 2 processes, Triton backend", workers=2, **triton)
    else:
        stage_costs = stages(model, inputs[0], None)
    run("local, 1 worker (in process)", workers=1)
    run("local, 2 processes (spawned per run)", workers=2)
    startup = {}
    for workers in clusters:
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
        "model": f"EdgeConvTagger hidden 64, {layers} layer{'s' * (layers > 1)}, kNN k=8",
        "graphs_per_s": rates,
        "load_average_1min_after_run": load,
        "local_cluster_startup_s": {k: round(v, 2) for k, v in startup.items()},
        "stages": stage_costs,
    }


def column(work: Path, copies: int, clusters: tuple[int, ...], layers: int) -> dict[str, Any]:
    import awkward as ak
    import dask_awkward as dak
    import uproot
    from distributed import Client, LocalCluster

    from e2e_gnn.runtime.dask_awkward import tag_objects

    model = export_model(work / "jets.onnx", JET_FIELDS, ("eta", "phi"), layers)
    (work / "nano").mkdir()
    files = {}
    for i in range(copies):
        link = work / "nano" / f"copy{i}.root"
        link.symlink_to(NANOAOD.resolve())
        files[str(link)] = "Events"
    rates = {}
    for workers in clusters:
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
            rates[f"{workers} worker(s)"] = round(len(scores) / seconds, 1)
            print(f"column, {workers} worker(s): {rates[f'{workers} worker(s)']:.0f} events/s")
    jets = uproot.open(NANOAOD)["Events"].arrays([f"Jet_{f}" for f in JET_FIELDS])
    jets = ak.zip({f: jets[f"Jet_{f}"] for f in JET_FIELDS})
    tag_objects(jets, model)
    start = time.perf_counter()
    for _ in range(10):
        tag_objects(jets, model)
    rates["tagging alone (eager, in process)"] = round(
        10 * len(jets) / (time.perf_counter() - start), 1
    )
    print(f"column, tagging alone: {rates['tagging alone (eager, in process)']:.0f} events/s")
    return {
        "events": 200 * copies,
        "partitions": copies,
        "model": f"EdgeConvTagger hidden 64, {layers} layer{'s' * (layers > 1)}, kNN k=8 over "
        "the jets (pt, eta, phi, mass)",
        "events_per_s": rates,
    }


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--graphs", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--layers", type=int, default=3, help="EdgeConv layers of the tagger")
    args = _common.parse(parser, {"files": 2, "graphs": 50, "copies": 1, "layers": 1})
    bench = _common.Bench("many_files", args)
    # dask clusters of these worker counts (--quick: the 2-worker ones, the same code)
    clusters = (2,) if args.quick else (1, 2)
    with tempfile.TemporaryDirectory() as work:
        results: dict[str, Any] = {
            "infer_files": many_files(Path(work), args.files, args.graphs, clusters, args.layers),
            "column": column(Path(work), args.copies, clusters, args.layers)
            if NANOAOD.is_file()
            else None,
        }
    bench.write(results, onnxruntime=1)
    print("\n| run | rate |\n|---|---:|")
    for name, rate in results["infer_files"]["graphs_per_s"].items():
        print(f"| infer_files, {name} | {rate:.0f} graphs/s |")
    for name, rate in (results["column"] or {}).get("events_per_s", {}).items():
        print(f"| tag_objects column, {name} | {rate:.0f} events/s |")
    stage = results["infer_files"]["stages"]
    print("\n| stage | us per graph (wall) | us per graph (CPU of the worker) |\n|---|---:|---:|")
    for name, us in stage["us_per_graph"].items():
        print(f"| {name} | {us} | {stage['us_per_graph_cpu_of_the_worker'][name]} |")


if __name__ == "__main__":
    main()
