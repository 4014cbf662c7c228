"""Generator speed: Pythia8 alone vs the full pipeline, measured in the same run.

The full pipeline is what ``e2e-gnn generate`` does per event: Pythia8 generation read
out with ``nextBatch`` (awkward arrays), truth extraction, the detector response,
FastJet clustering and labelling, and ROOT writing with uproot. Both are run on one
core in this process (hard QCD, pTHat > 200 GeV, 13.6 TeV, the ``quark_gluon`` task),
with and without multiparton interactions, timed in CPU time of this process
(``time.process_time``: robust on a machine shared with other jobs); then
``generate(..., workers=2)`` is timed end to end in wall time (process start-up and
Pythia initialisation included).

Target (issue 5): everything we add costs at most 25 % on top of Pythia's own time. Pythia
alone is the floor of the pipeline (``x_floor`` = full pipeline / Pythia alone): the
generator's own time, which nothing we add can remove.

Usage: python benchmarks/bench_generate.py [--events-mpi 200] [--events-nompi 600] [--quick]
Writes benchmarks/results/generate.json and prints a markdown table.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import uproot

import _common
from e2e_gnn.generate.detector import DetectorConfig, simulate
from e2e_gnn.generate.pythia import PythiaSource
from e2e_gnn.generate.tasks import get_task
from e2e_gnn.generate.truth import Record
from e2e_gnn.generate.writer import (
    CHUNK_SIZE,
    WRITE_EVERY,
    append_events,
    assemble,
    compression_codec,
    concatenate_chunks,
    generate,
    to_branches,
)

TASK = "quark_gluon"


def bench_single_core(n_events: int, mpi: bool, seed: int = 1) -> dict[str, float]:
    """ms/event of Pythia alone and of each pipeline stage, one core."""
    source = PythiaSource(get_task(TASK), mpi=mpi)
    config = DetectorConfig()
    pythia_alone = 0.0
    stages = dict.fromkeys(("nextBatch", "truth", "detector", "jets_assemble", "root_write"), 0.0)
    codec = compression_codec("lz4")
    buffered = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        uproot.recreate(Path(tmp) / "b.root", compression=codec) as file,
    ):
        for first in range(0, n_events, CHUNK_SIZE):
            n = min(CHUNK_SIZE, n_events - first)
            # Pythia alone (next() only, the floor) on the very same events, right
            # before the pipeline, so that a changing machine load hits both alike
            source.signal.rndm.init(seed + first)
            start = time.process_time()
            for _ in range(n):
                source.signal.next()
            pythia_alone += time.process_time() - start
            t0 = time.process_time()
            source.signal.rndm.init(seed + first)
            batch = source.signal.nextBatch(n)
            t1 = time.process_time()
            # truth extraction: the same calls PythiaSource.generate makes after nextBatch
            events = source.events_from_record(Record.from_batch(batch), np.ones(n, dtype=bool))
            t2 = time.process_time()
            rng = np.random.default_rng([seed, first, 1])
            response = simulate(events.particles, config, rng, pileup=events.pileup)
            t3 = time.process_time()
            branches = assemble(0, first, events, response)
            t4 = time.process_time()
            # as generate() does: buffer WRITE_EVERY events, then write one basket
            buffered.append(branches)
            if sum(len(b["event"]) for b in buffered) >= WRITE_EVERY or first + n == n_events:
                append_events(file, to_branches(concatenate_chunks(buffered)))
                buffered = []
            t5 = time.process_time()
            for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                stages[name] += dt
    per_event = {name: 1e3 * value / n_events for name, value in stages.items()}
    pythia_ms = 1e3 * pythia_alone / n_events
    full_ms = sum(per_event.values())
    return {
        "events": n_events,
        "pythia_alone_ms": pythia_ms,
        **{f"{name}_ms": value for name, value in per_event.items()},
        "full_pipeline_ms": full_ms,
        "x_floor": round(full_ms / pythia_ms, 3),
        "overhead_percent": 100.0 * (full_ms / pythia_ms - 1.0),
        "overhead_excluding_readout_percent": 100.0
        * (full_ms - per_event["nextBatch"])
        / per_event["nextBatch"],
    }


def bench_generate(n_events: int, workers: int) -> dict[str, float]:
    """Wall time of generate() end to end (MPI on), including start-up."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate(TASK, n_events, 1, Path(tmp) / "g.root", workers=workers, progress=False)
        elapsed = time.perf_counter() - start
    return {
        "events": n_events,
        "workers": workers,
        "seconds": elapsed,
        "events_per_s": n_events / elapsed,
    }


def main() -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--events-mpi", type=int, default=200)
    parser.add_argument("--events-nompi", type=int, default=600)
    parser.add_argument("--events-generate", type=int, default=200)
    quick = {"events_mpi": 5, "events_nompi": 5, "events_generate": 4}
    args = _common.parse(parser, quick)
    bench = _common.Bench("generate", args)
    results = {
        "timing": "single-core stages in CPU time (time.process_time), generate() in wall time",
        "task": TASK,
        "mpi_on": bench_single_core(args.events_mpi, mpi=True),
        "mpi_off": bench_single_core(args.events_nompi, mpi=False),
        "generate_2_workers": bench_generate(args.events_generate, workers=2),
    }
    bench.write(results, generate_workers=2)
    stages = ("pythia_alone", "nextBatch", "truth", "detector", "jets_assemble", "root_write")
    header = " | ".join(f"{name} (ms/ev)" for name in stages)
    print(f"| MPI | {header} | full (ms/ev) | overhead vs Pythia alone |")
    print("|---" * (len(stages) + 3) + "|")
    for key, label in (("mpi_on", "on"), ("mpi_off", "off")):
        r = results[key]
        cells = " | ".join(f"{r[f'{name}_ms']:.2f}" for name in stages)
        print(
            f"| {label} | {cells} | {r['full_pipeline_ms']:.2f} | {r['overhead_percent']:+.1f} % |"
        )
    g = results["generate_2_workers"]
    print(
        f"\ngenerate(workers=2, MPI on): {g['events']} events in {g['seconds']:.1f} s "
        f"= {g['events_per_s']:.1f} events/s (start-up included)"
    )


if __name__ == "__main__":
    main()
