"""Layer speed: e2e_gnn layers exported to ONNX Runtime vs torch_geometric, in one run.

1. The EdgeConv tagger of issue 4: an event of 10 jets of 60-160 nodes, kNN graph (k = 16,
   target-sorted, no self loops, as the graph builders emit it), three EdgeConv layers 64
   wide with mean aggregation, mean+max pooling and a head. Timed: torch_geometric in torch
   eager, torch_geometric exported naively (dynamo, opset 18) in ONNX Runtime, and ours in
   ONNX Runtime with general aggregation and with ``fixed_degree=16``; same weights.
2. The aggregation ops alone (1,000 rows, 16,000 entries, 64 features): ours exported vs
   the naive ``scatter_add`` / ``scatter_reduce`` export (ScatterElements), and torch eager.
3. Each general-graph layer on a random graph (1,000 nodes, 16,000 edges, 64 features):
   ours in ONNX Runtime vs torch_geometric in torch eager (and exported, for reference).

One thread everywhere (torch.set_num_threads(1), ONNX Runtime intra/inter-op 1). Targets
(issue 4): tagger >= 2x torch_geometric eager and >= 4x torch_geometric exported; every
general layer in ONNX Runtime at least as fast as torch_geometric eager.

Every model of ours exported to ONNX Runtime is also measured against its floor
(benchmarks/floors.py: its FLOPs at the machine's matmul peak, its bytes at its memory
bandwidth; ``x_floor`` = time / floor).

torch_geometric (and the tagger of ours) also run under ``torch.compile`` (dynamic shapes),
the peer a torch user would pick next to eager; everything is measured twice, with glibc's
default and with the tuned allocator (see benchmarks/_common.py).

Usage: PYTHONPATH=python python benchmarks/bench_layers.py [--repeat 30] [--no-compile]
       [--no-naive-export] [--quick]
Writes benchmarks/results/layers.json and prints markdown tables.
"""

from __future__ import annotations

import itertools
import statistics
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torch.export import Dim

import _common
import e2e_gnn.nn as ours
import floors
from e2e_gnn import custom_ops
from e2e_gnn.export.optimize import optimize

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import torch_geometric
    import torch_geometric.nn as pyg


def knn_event(num_jets: int, k: int, features: int, seed: int) -> dict[str, torch.Tensor]:
    """x, edge_index (kNN in the first two features, target-sorted) and batch of one event."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(60, 161, (num_jets,), generator=gen).tolist()
    xs, sources, targets, batch, offset = [], [], [], [], 0
    for g, n in enumerate(sizes):
        x = torch.randn(n, features, generator=gen)
        dist = torch.cdist(x[:, :2], x[:, :2])
        dist.fill_diagonal_(float("inf"))
        degree = min(k, n - 1)
        sources.append(dist.topk(degree, dim=1, largest=False).indices.reshape(-1) + offset)
        targets.append(torch.arange(offset, offset + n).repeat_interleave(degree))
        xs.append(x)
        batch.append(torch.full((n,), g, dtype=torch.long))
        offset += n
    edge_index = torch.stack([torch.cat(sources), torch.cat(targets)])
    return {"x": torch.cat(xs), "edge_index": edge_index, "batch": torch.cat(batch)}


class Tagger(torch.nn.Module):
    """EdgeConv blocks, mean+max pooling, MLP head; the conv class is a parameter so the
    torch_geometric and e2e_gnn versions share one state_dict."""

    def __init__(self, conv: Callable[..., torch.nn.Module], pool: Any, **kw: Any) -> None:
        super().__init__()
        widths = [4, 64, 64, 64]

        def mlp(a: int, b: int) -> torch.nn.Sequential:
            return torch.nn.Sequential(
                torch.nn.Linear(a, b), torch.nn.ReLU(), torch.nn.Linear(b, b), torch.nn.ReLU()
            )

        self.convs = torch.nn.ModuleList(
            conv(mlp(2 * a, b), aggr="mean", **kw) for a, b in itertools.pairwise(widths)
        )
        self.head = torch.nn.Sequential(
            torch.nn.Linear(128, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
        )
        self.pool = pool

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor):
        for conv in self.convs:
            x = conv(x, edge_index)
        pooled = torch.cat(
            [self.pool.global_mean_pool(x, batch), self.pool.global_max_pool(x, batch)], -1
        )
        return self.head(pooled)


class _Unsplit(torch.nn.Module):
    """Hides the leading Linear from EdgeConv, which then runs the MLP per edge (to measure
    what the per-node split buys)."""

    def __init__(self, seq: torch.nn.Sequential) -> None:
        super().__init__()
        self.seq = seq

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.seq(h)


def export_bytes(
    module: torch.nn.Module, args: dict[str, torch.Tensor], dynamic: dict[str, dict[int, str]]
) -> bytes:
    """``module(**args)`` exported with the dynamo exporter, opset 18, and optimised as
    ``e2e-gnn export-onnx`` does (torch's optimisation without its quadratic rewrite rule,
    the same operators), as ONNX bytes."""
    dims: dict[str, Dim] = {}
    shapes = {
        name: {axis: dims.setdefault(d, Dim(d, min=0)) for axis, d in dynamic.get(name, {}).items()}
        for name in args
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module.eval(), (), kwargs=args, dynamo=True, opset_version=18,
            dynamic_shapes=shapes, verbose=False, optimize=False,
        )  # fmt: skip
        assert program is not None
        optimize(program)
        return program.model_proto.SerializeToString()


def session(model: bytes) -> ort.InferenceSession:
    """An ONNX Runtime CPU session of ``model`` on one thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    custom_ops.register(options)  # models exported with fused operators
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def export_session(
    module: torch.nn.Module, args: dict[str, torch.Tensor], dynamic: dict[str, dict[int, str]]
) -> ort.InferenceSession:
    """:func:`export_bytes` in :func:`session`."""
    return session(export_bytes(module, args, dynamic))


Runner = Callable[[], np.ndarray]


def feeds_of(model: ort.InferenceSession, args: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The entries of ``args`` that ``model`` takes, as numpy arrays."""
    wanted = {i.name for i in model.get_inputs()}
    return {k: v.numpy() for k, v in args.items() if k in wanted}


def ort_runner(model: ort.InferenceSession, args: dict[str, torch.Tensor]) -> Runner:
    feeds = feeds_of(model, args)
    return lambda: model.run(None, feeds)[0]


def floor_of(model: bytes, args: dict[str, torch.Tensor], peaks: dict[str, Any]) -> dict[str, Any]:
    """The floor (benchmarks/floors.py) of the exported ``model`` on ``args``."""
    return floors.model_floor(model, feeds_of(session(model), args), peaks)


def torch_runner(module: torch.nn.Module, args: dict[str, torch.Tensor]) -> Runner:
    def run() -> np.ndarray:
        with torch.no_grad():
            return module(**args).numpy()

    return run


def time_interleaved(runners: dict[str, Runner], repeat: int) -> dict[str, float]:
    """Median ms of each runner, measured in interleaved rounds so that load from other
    processes hits every variant alike."""
    timers = {name: _common.timer(run) for name, run in runners.items()}
    samples = _common.interleaved(timers, repeat, warmup=3)
    return {name: 1e3 * statistics.median(values) for name, values in samples.items()}


REFERENCE = "torch_geometric, torch eager"
TAGGER_VARIANTS = [
    REFERENCE,
    "torch_geometric, torch.compile",
    "torch_geometric, exported naively, ONNX Runtime",
    "e2e_gnn EdgeConv (per-node split), ONNX Runtime",
    "e2e_gnn EdgeConv without the per-node split, ONNX Runtime",
    "e2e_gnn EdgeConv fixed_degree=16 (no scatter), ONNX Runtime",
    "e2e_gnn EdgeConv, torch eager",
    "e2e_gnn EdgeConv, torch.compile",
]


def bench_tagger(
    repeat: int, variants: list[str], peaks: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The README event through each of ``variants`` (names of TAGGER_VARIANTS); the
    torch_geometric eager reference always runs. Rows, and the floor of each exported
    variant (its own graph; ``peaks``: :func:`floors.peaks`)."""
    args = knn_event(10, 16, 4, seed=0)
    dynamic = {"x": {0: "N"}, "edge_index": {1: "E"}, "batch": {0: "N"}}
    torch.manual_seed(0)
    theirs = Tagger(pyg.EdgeConv, pyg).eval()
    general = Tagger(ours.EdgeConv, ours).eval()
    fixed = Tagger(ours.EdgeConv, ours, fixed_degree=16).eval()
    general.load_state_dict(theirs.state_dict())
    fixed.load_state_dict(theirs.state_dict())
    unsplit = Tagger(lambda nn, **kw: ours.EdgeConv(_Unsplit(nn), **kw), ours).eval()
    unsplit.load_state_dict(
        {k.replace(".nn.", ".nn.seq."): v for k, v in theirs.state_dict().items()}
    )
    exported = {
        "torch_geometric, exported naively, ONNX Runtime": theirs,
        "e2e_gnn EdgeConv (per-node split), ONNX Runtime": general,
        "e2e_gnn EdgeConv without the per-node split, ONNX Runtime": unsplit,
        "e2e_gnn EdgeConv fixed_degree=16 (no scatter), ONNX Runtime": fixed,
    }
    in_torch = {
        REFERENCE: theirs,
        "torch_geometric, torch.compile": _common.compiled(theirs),
        "e2e_gnn EdgeConv, torch eager": general,
        "e2e_gnn EdgeConv, torch.compile": _common.compiled(general),
    }
    runners, floor = {}, {}
    for name in TAGGER_VARIANTS:
        if name in exported and name in variants:
            model = export_bytes(exported[name], args, dynamic)
            runners[name] = ort_runner(session(model), args)
            floor[name] = floor_of(model, args, peaks)
        elif name in in_torch and (name in variants or name == REFERENCE):
            runners[name] = torch_runner(in_torch[name], args)
    times = time_interleaved(runners, repeat)
    ref = runners[REFERENCE]()
    ref_ms = times[REFERENCE]
    rows = [
        {
            "variant": name,
            "ms": times[name],
            "speedup_vs_pyg_eager": ref_ms / times[name],
            "max_abs_diff": float(np.abs(run() - ref).max()),
            **(floors.against(times[name], floor[name]) if name in floor else {}),
        }
        for name, run in runners.items()
    ]
    rows[0]["nodes"], rows[0]["edges"] = args["x"].size(0), args["edge_index"].size(1)
    return rows, floor


class _Op(torch.nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor, src: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        n = x.size(0)
        if self.kind == "naive sum (scatter_add)":
            expanded = index.view(-1, 1).expand_as(src)
            return src.new_zeros(n, src.size(1)).scatter_add(0, expanded, src)
        if self.kind == "naive max (scatter_reduce amax)":
            expanded = index.view(-1, 1).expand_as(src)
            out = src.new_full((n, src.size(1)), float("-inf"))
            return out.scatter_reduce(0, expanded, src, reduce="amax")
        if self.kind == "softmax":
            return ours.scatter_softmax(src, index, n)
        return ours.scatter(src, index, dim_size=n, reduce=self.kind)  # type: ignore[arg-type]


def op_inputs(
    gen: torch.Generator, n: int = 1000, e: int = 16000, f: int = 64
) -> tuple[dict[str, torch.Tensor], dict[str, dict[int, str]]]:
    """Inputs of an aggregation alone (``n`` rows, ``e`` entries, ``f`` features) drawn from
    ``gen``, and their dynamic axes."""
    args = {
        "x": torch.zeros(n, 1),
        "src": torch.randn(e, f, generator=gen),
        "index": torch.randint(0, n, (e,), generator=gen),
    }
    return args, {"x": {0: "N"}, "src": {0: "E"}, "index": {0: "E"}}


def bench_ops(repeat: int, kinds: list[str]) -> list[dict[str, Any]]:
    args, dynamic = op_inputs(torch.Generator().manual_seed(2))
    rows = []
    for kind in kinds:
        module = _Op(kind)
        runners = {
            "ort": ort_runner(export_session(module, args, dynamic), args),
            "torch": torch_runner(module, args),
        }
        times = time_interleaved(runners, repeat)
        rows.append(
            {
                "op": kind,
                "onnx_runtime_ms": times["ort"],
                "torch_eager_ms": times["torch"],
                "max_abs_diff": float(np.abs(runners["ort"]() - runners["torch"]()).max()),
            }
        )
    return rows


GENERAL_LAYERS: dict[str, tuple[str, dict[str, Any]]] = {
    "GCNConv": ("GCNConv", {}),
    "GraphConv": ("GraphConv", {}),
    "SAGEConv mean": ("SAGEConv", {}),
    "SAGEConv max": ("SAGEConv", {"aggr": "max"}),
    "GATConv heads=4": ("GATConv", {"heads": 4, "concat": False}),
    "ARMAConv K=3 T=2": ("ARMAConv", {"num_stacks": 3, "num_layers": 2}),
    "GATv2Conv heads=4": ("GATv2Conv", {"heads": 4, "concat": False}),
    "TransformerConv heads=4": ("TransformerConv", {"heads": 4, "concat": False}),
}


OPS = [
    *("sum", "mean", "max", "softmax"),
    *("naive sum (scatter_add)", "naive max (scatter_reduce amax)"),
]


def bench_general(
    repeat: int, names: list[str], compile_peers: bool, naive_peer: bool, peaks: dict[str, Any]
) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(1)
    n, e, f = 1000, 16000, 64
    args = {
        "x": torch.randn(n, f, generator=gen),
        "edge_index": torch.randint(0, n, (2, e), generator=gen),
    }
    dynamic = {"x": {0: "N"}, "edge_index": {1: "E"}}
    # inputs beyond (x, edge_index) that some layers take, with their dynamic axes
    extra_inputs = {
        "edge_attr": (torch.randn(e, 8, generator=gen), {0: "E"}),
        "pos": (torch.randn(n, 3, generator=gen), {0: "N"}),
    }
    takes = {"GINEConv": ("edge_attr",), "PointNetConv": ("pos",)}
    rows = []
    layers: list[tuple[str, torch.nn.Module, torch.nn.Module]] = []
    for name, (cls, kwargs) in GENERAL_LAYERS.items():
        torch.manual_seed(0)
        theirs = getattr(pyg, cls)(f, f, **kwargs).eval()
        mine = getattr(ours, cls)(f, f, **kwargs).eval()
        mine.load_state_dict(theirs.state_dict())
        layers.append((name, theirs, mine))
    for cls, make_nns in (
        ("GINEConv", lambda: [torch.nn.Sequential(torch.nn.Linear(f, f), torch.nn.ReLU())]),
        ("PointNetConv", lambda: [torch.nn.Sequential(torch.nn.Linear(f + 3, f), torch.nn.ReLU())]),
    ):
        torch.manual_seed(0)
        kwargs = {"edge_dim": 8} if cls == "GINEConv" else {}
        theirs = getattr(pyg, cls)(*make_nns(), **kwargs).eval()
        mine = getattr(ours, cls)(*make_nns(), **kwargs).eval()
        mine.load_state_dict(theirs.state_dict())
        layers.append((cls, theirs, mine))
    for aggr in ("max", "mean"):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(2 * f, f), torch.nn.ReLU())
        theirs = pyg.EdgeConv(net, aggr=aggr).eval()
        mine = ours.EdgeConv(
            torch.nn.Sequential(torch.nn.Linear(2 * f, f), torch.nn.ReLU()), aggr=aggr
        )
        mine.load_state_dict(theirs.state_dict())
        layers.append((f"EdgeConv {aggr}", theirs, mine.eval()))
    torch.manual_seed(0)
    theirs = pyg.GINConv(torch.nn.Sequential(torch.nn.Linear(f, f), torch.nn.ReLU())).eval()
    mine = ours.GINConv(torch.nn.Sequential(torch.nn.Linear(f, f), torch.nn.ReLU()))
    mine.load_state_dict(theirs.state_dict())
    layers.append(("GINConv", theirs, mine.eval()))
    base_args, base_dynamic = args, dynamic
    for name, theirs, mine in layers:
        if name not in names:
            continue
        args, dynamic = dict(base_args), dict(base_dynamic)
        for extra in takes.get(name, ()):
            args[extra], dynamic[extra] = extra_inputs[extra]
        model = export_bytes(mine, args, dynamic)
        with ours.fused_operators():
            fused = export_bytes(mine, args, dynamic)
        runners = {
            "pyg": torch_runner(theirs, args),
            "ours": ort_runner(session(model), args),
            "ours_fused": ort_runner(session(fused), args),
        }
        if compile_peers:
            try:
                fast = torch_runner(_common.compiled(theirs), args)
                fast()  # compiles, or says why not
                runners["pyg_compile"] = fast
            except Exception as err:
                print(f"torch_geometric {name} does not compile: {type(err).__name__}")
        if naive_peer:
            try:
                runners["pyg_onnx"] = ort_runner(export_session(theirs, args, dynamic), args)
            except Exception as err:
                print(f"torch_geometric {name} does not export: {type(err).__name__}")
        times = time_interleaved(runners, repeat)
        rows.append(
            {
                "layer": name,
                "pyg_eager_ms": times["pyg"],
                "pyg_onnx_ms": times.get("pyg_onnx", float("nan")),
                "pyg_compile_ms": times.get("pyg_compile", float("nan")),
                "ours_onnx_ms": times["ours"],
                "speedup_vs_pyg_eager": times["pyg"] / times["ours"],
                "speedup_vs_pyg_compile": times.get("pyg_compile", float("nan")) / times["ours"],
                "max_abs_diff": float(np.abs(runners["ours"]() - runners["pyg"]()).max()),
                **floors.against(times["ours"], floor_of(model, args, peaks)),
                # the same layer exported with --fused-ops (e2e_gnn's operator library)
                "ours_fused_onnx_ms": times["ours_fused"],
                "fused_speedup_vs_pyg_eager": times["pyg"] / times["ours_fused"],
                "fused_speedup_vs_pyg_compile": times.get("pyg_compile", float("nan"))
                / times["ours_fused"],
                "fused_max_abs_diff": float(
                    np.abs(runners["ours_fused"]() - runners["pyg"]()).max()
                ),
                "fused_x_floor": floors.against(times["ours_fused"], floor_of(fused, args, peaks))[
                    "x_floor"
                ],
            }
        )
    return rows


GENERAL = [*GENERAL_LAYERS, "EdgeConv max", "EdgeConv mean", "GINConv", "GINEConv", "PointNetConv"]


def measure(args: Any, peaks: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(1)
    compile_peers, naive_peer = not args.no_compile, not args.no_naive_export
    variants = [
        v
        for v in args.variants
        if (compile_peers or "compile" not in v) and (naive_peer or "exported naively" not in v)
    ]
    tagger, floor = bench_tagger(args.repeat, variants, peaks)
    return {
        "tagger": tagger,
        "tagger_floors": floor,
        "aggregation_ops": bench_ops(args.repeat, args.ops),
        "general_layers": bench_general(args.repeat, args.layers, compile_peers, naive_peer, peaks),
    }


def print_tables(result: dict[str, Any]) -> None:
    tagger, ops, general = result["tagger"], result["aggregation_ops"], result["general_layers"]
    print(f"EdgeConv tagger, {tagger[0]['nodes']} nodes, {tagger[0]['edges']} edges, 1 thread\n")
    print("| variant | ms | speed-up vs PyG eager | max abs diff |\n|---|---|---|---|")
    for row in tagger:
        print(
            f"| {row['variant']} | {row['ms']:.2f} | {row['speedup_vs_pyg_eager']:.2f}x "
            f"| {row['max_abs_diff']:.1e} |"
        )
    print("\nAggregation ops, 1,000 rows, 16,000 entries, 64 features, 1 thread\n")
    print("| op | ONNX Runtime ms | torch eager ms | max abs diff |\n|---|---|---|---|")
    for row in ops:
        print(
            f"| {row['op']} | {row['onnx_runtime_ms']:.2f} | {row['torch_eager_ms']:.2f} "
            f"| {row['max_abs_diff']:.1e} |"
        )
    print("\nGeneral-graph layers, 1,000 nodes, 16,000 edges, 64 features, 1 thread\n")
    print(
        "| layer | PyG eager ms | PyG torch.compile ms | PyG exported, ORT ms | e2e_gnn, ORT ms "
        "| speed-up vs PyG eager / compile | e2e_gnn fused, ORT ms | fused vs PyG eager / "
        "compile | max abs diff (plain / fused) |\n|---|---|---|---|---|---|---|---|---|"
    )
    for row in general:
        print(
            f"| {row['layer']} | {row['pyg_eager_ms']:.2f} | {row['pyg_compile_ms']:.2f} "
            f"| {row['pyg_onnx_ms']:.2f} | {row['ours_onnx_ms']:.2f} "
            f"| {row['speedup_vs_pyg_eager']:.2f}x / {row['speedup_vs_pyg_compile']:.2f}x "
            f"| {row['ours_fused_onnx_ms']:.2f} | {row['fused_speedup_vs_pyg_eager']:.2f}x / "
            f"{row['fused_speedup_vs_pyg_compile']:.2f}x "
            f"| {row['max_abs_diff']:.1e} / {row['fused_max_abs_diff']:.1e} |"
        )


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-compile", action="store_true", help="leave out torch.compile")
    parser.add_argument(
        "--no-naive-export",
        action="store_true",
        help="leave out torch_geometric exported naively to ONNX Runtime",
    )
    parser.add_argument("--variants", nargs="+", choices=TAGGER_VARIANTS, default=TAGGER_VARIANTS)
    parser.add_argument("--ops", nargs="+", choices=OPS, default=OPS)
    parser.add_argument("--layers", nargs="+", choices=GENERAL, default=GENERAL)
    quick = {
        "repeat": 2,
        "no_compile": True,
        "no_naive_export": True,
        "variants": [REFERENCE, "e2e_gnn EdgeConv (per-node split), ONNX Runtime"],
        "ops": ["sum"],
        "layers": ["EdgeConv mean"],
    }
    args = _common.parse(parser, quick)
    bench = _common.Bench("layers", args)
    results = bench.by_allocator(
        lambda: measure(args, bench.peaks()), torch=1, onnxruntime_intra_op=1
    )
    for setting, result in results.items():
        print(f"\n## allocator: {setting}\n")
        print_tables(result)
    bench.write(
        {"allocators": results, "torch_geometric": torch_geometric.__version__},
        torch=1,
        onnxruntime_intra_op=1,
    )


if __name__ == "__main__":
    main()
