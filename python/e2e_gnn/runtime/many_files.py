"""Score many input files: one task per file, on this machine's processes or on Dask.

Each task reads one graph file (graph models) or frames file (frame models), scores it with
the model loaded once per worker process and reused by every task that process runs, and
writes one score file per input (same stem, in the output directory) with the identifiers
that join the scores back: ``file`` (the input's path), ``row`` (the graph's or frame's row
in the input) and the input's own per-row columns (``event``, ``index``, ``label``, ...).

Or, with ``dataset=True``, one parquet dataset: the output directory holds one part per
input (``<input stem>-<hash of its path>.parquet``, every part with the same columns), read
as one table by ``pyarrow.dataset.dataset(DIR)``, ``ak.from_parquet(DIR)`` or
``pandas.read_parquet(DIR)``. A part is written in a staging directory next to the dataset
(``.<DIR name>.incomplete``) and moved in when complete, so a reader of the dataset never
sees a partial part.

A file is written under a temporary name and renamed when complete, so a re-run skips the
inputs whose outputs exist and read back as score files, and a crashed run leaves nothing
that looks complete. A file that cannot be read or scored is reported with its reason and
the others go on. The Dask executor submits the same task function to a ``dask.distributed``
cluster (a running scheduler, or a ``LocalCluster`` started for the run); dask reschedules
the tasks of a worker that dies. Imports neither torch nor dask (dask only when used).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import awkward as ak
import numpy as np

from e2e_gnn.io.columns import ColumnWriter, file_format, read_columns
from e2e_gnn.io.frame_files import read_frames
from e2e_gnn.io.graph_files import read_graphs
from e2e_gnn.io.score_files import NODE_INDEX, score_columns
from e2e_gnn.spec import ModelSpec

__all__ = [
    "OUTPUT_FILES",
    "FileResult",
    "InferSettings",
    "InferSummary",
    "cached_tagger",
    "dataset_paths",
    "events_inputs",
    "expand_inputs",
    "infer_files",
    "model_inputs",
    "score_file",
]

OUTPUT_FILES = (".parquet", ".root")
LIST_FILES = (".txt", ".list")
# what one file's task reports as its failure: bad files (e2e_gnn.io's errors are OSError,
# ValueError or KeyError subclasses), inputs (TypeError), servers (RuntimeError)
FILE_ERRORS = (OSError, ValueError, TypeError, KeyError, RuntimeError)
# times a local run restarts its process pool after a worker process died
LOCAL_RESTARTS = 2

Status = Literal["done", "skipped", "failed"]
Progress = Callable[["FileResult"], None]


@dataclass(frozen=True)
class InferSettings:
    """What every task needs, sent to the workers (picklable).

    Args:
        model: the exported ``.onnx`` file (a path every worker can read).
        backend, threads, options: as for :class:`~e2e_gnn.runtime.tagger.Tagger`
            (``options`` e.g. ``{"url": "host:8001"}`` for Triton).
        per_call: graphs or frames per inference call.
        verify_checksum: verify the model's checksum when a worker loads it.
        schema: inputs are event files read with this schema (a shipped name or a TOML
            path), in chunks of ``step_size`` events, and the model's spec ``producer``
            makes its graphs or frames; None: inputs are graph or frames files.
        dataset: outputs are parts of one parquet dataset, written in its staging
            directory (:func:`staging_path`) and moved in when complete.
    """

    model: str
    backend: str = "native"
    threads: int = 1
    per_call: int = 1024
    verify_checksum: bool = True
    options: tuple[tuple[str, Any], ...] = ()
    schema: str | None = None
    step_size: int = 10_000
    dataset: bool = False


@dataclass(frozen=True)
class FileResult:
    """One input's outcome: ``rows`` graphs or frames scored (or found in a skipped output),
    ``reason`` why it failed."""

    input: str
    output: str
    status: Status
    rows: int = 0
    reason: str = ""
    seconds: float = 0.0


@dataclass
class InferSummary:
    """What a many-file run did: every input's :class:`FileResult`, in input order."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def files(self) -> int:
        return len(self.results)

    @property
    def rows(self) -> int:
        """Graphs or frames in the outputs (scored now or by an earlier run)."""
        return sum(r.rows for r in self.results if r.status != "failed")

    @property
    def outputs(self) -> list[str]:
        return [r.output for r in self.results if r.status != "failed"]

    @property
    def written(self) -> int:
        return sum(r.status == "done" for r in self.results)

    @property
    def skipped(self) -> int:
        return sum(r.status == "skipped" for r in self.results)

    @property
    def failures(self) -> list[tuple[str, str]]:
        """(input, reason) of every input that failed."""
        return [(r.input, r.reason) for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        """The summary as text: counts, then one line per failure."""
        scored = sum(r.rows for r in self.results if r.status == "done")
        rate = f", {scored / self.seconds:.0f}/s" if self.seconds > 0 and scored else ""
        head = (
            f"{self.files} files: {self.written} written, {self.skipped} already complete, "
            f"{len(self.failures)} failed; {self.rows} rows in {len(self.outputs)} outputs "
            f"({scored} scored in {self.seconds:.1f} s{rate})"
        )
        return [head, *(f"FAILED {path}: {reason}" for path, reason in self.failures)]


def expand_inputs(specs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The input files of ``specs``: paths, glob patterns (``data/*.root``, ``**`` allowed)
    and text files (``.txt``, ``.list``) listing one path or pattern per line (blank lines
    and ``#`` comments skipped), in order, without repeats. A pattern that matches nothing
    is an error; a path that does not exist is kept (its task reports it)."""
    found: list[Path] = []
    for spec in specs:
        text = str(spec)
        if glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                msg = f"input pattern {text!r} matches no file"
                raise ValueError(msg)
            found.extend(Path(m) for m in matches)
        elif Path(text).suffix.lower() in LIST_FILES:
            try:
                lines = Path(text).read_text().splitlines()
            except OSError as err:
                msg = f"cannot read the input list {text!r}: {err.strerror or err}"
                raise ValueError(msg) from err
            listed = [s for s in (line.split("#", 1)[0].strip() for line in lines) if s]
            if not listed:
                msg = f"the input list {text!r} names no file"
                raise ValueError(msg)
            found.extend(expand_inputs(listed))
        else:
            found.append(Path(text))
    return list(dict.fromkeys(found))


def output_paths(
    inputs: Sequence[Path], out_dir: str | os.PathLike[str], suffix: str
) -> list[Path]:
    """``out_dir/<input stem><suffix>`` per input; two inputs of one stem are refused."""
    file_format(f"scores{suffix}", OUTPUT_FILES)
    seen: dict[str, Path] = {}
    for path in inputs:
        if path.stem in seen:
            msg = (
                f"inputs {str(seen[path.stem])!r} and {str(path)!r} would both write "
                f"{path.stem}{suffix}: rename one or score them in separate runs"
            )
            raise ValueError(msg)
        seen[path.stem] = path
    return [Path(out_dir) / f"{p.stem}{suffix}" for p in inputs]


def dataset_paths(inputs: Sequence[Path], out_dir: str | os.PathLike[str]) -> list[Path]:
    """The part of each input in the dataset ``out_dir``: ``<stem>-<hash>.parquet``, the
    hash of the input's absolute path, so inputs of one stem in different folders (as in
    any large production) get parts of their own and a re-run finds the same names."""
    parts = []
    for path in inputs:
        digest = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:12]
        parts.append(Path(out_dir) / f"{path.stem}-{digest}.parquet")
    return parts


def staging_path(part: Path) -> Path:
    """Where the dataset part ``part`` is written before it is moved into the dataset: a
    folder next to the dataset's, since readers of a parquet dataset take every
    ``*.parquet`` below its folder (awkward: hidden ones too)."""
    folder = Path(os.path.abspath(part.parent))  # a name and a parent for "." too
    return folder.parent / f".{folder.name}.incomplete" / part.name


_TAGGERS: dict[tuple[Any, ...], Any] = {}


def cached_tagger(settings: InferSettings) -> Any:
    """The Tagger of ``settings`` in this process, created on first use and kept."""
    from e2e_gnn.runtime.tagger import Tagger

    key = (settings.model, settings.backend, settings.threads, settings.options)
    if key not in _TAGGERS:
        _TAGGERS[key] = Tagger(
            settings.model,
            backend=settings.backend,
            threads=settings.threads,
            verify_checksum=settings.verify_checksum,
            **dict(settings.options),
        )
    return _TAGGERS[key]


def complete_rows(output: Path) -> int | None:
    """Rows of ``output`` if it is a complete score file of this module, else None."""
    if not output.is_file():
        return None
    try:
        columns = read_columns(output)
    except FILE_ERRORS:
        return None
    has_scores = "score" in columns or "score_0" in columns or NODE_INDEX in columns
    return len(columns["row"]) if has_scores and {"row", "file"} <= set(columns) else None


def model_inputs(
    spec: ModelSpec, path: str | os.PathLike[str]
) -> tuple[Any, dict[str, np.ndarray]]:
    """What a model scores in ``path`` and the per-row columns that identify it: the graphs
    of a graph file (graph models) or the frames of a frames file (frame models), in the
    order the model's spec names their features or channels. Score columns of an already
    scored file are left out (they would clash with the new ones)."""
    if spec.is_graph_model:
        assert spec.graph is not None
        graph_file = read_graphs(
            path,
            feature_names=spec.graph.feature_names,
            graph_feature_names=spec.graph.graph_feature_names or None,
        )
        inputs, columns = graph_file.graphs, graph_file.columns
    else:
        frame_file = read_frames(path, channels=(spec.frame or {}).get("channels"))
        inputs, columns = frame_file.frames.frames, frame_file.columns
    ids = {k: v for k, v in columns.items() if k != "score" and not k.startswith("score_")}
    return inputs, ids


def score_file(settings: InferSettings, input_path: str, output: str) -> FileResult:
    """Score one input file into ``output`` (skipped when already complete): the task every
    executor runs. Never raises for a bad input: the result says why it failed."""
    start = time.perf_counter()
    rows = complete_rows(Path(output))
    if rows is not None:
        return FileResult(input_path, output, "skipped", rows)
    written = staging_path(Path(output)) if settings.dataset else Path(output)
    # what a crashed attempt at this output left: never read, removed by the next attempt
    for stale in written.parent.glob(f".{written.stem}.*.part{written.suffix}"):
        stale.unlink(missing_ok=True)
    try:
        tagger = cached_tagger(settings)
        if settings.schema is None:
            inputs, columns = model_inputs(tagger.spec, input_path)
            chunks: Iterable[tuple[Any, dict[str, np.ndarray]]] = [(inputs, columns)]
        else:
            chunks = events_inputs(tagger.spec, input_path, settings.schema, settings.step_size)
        rows = _write_scores(tagger, settings, chunks, input_path, str(written))
        if written != Path(output):
            os.replace(written, output)
    except FILE_ERRORS as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        return FileResult(input_path, output, "failed", reason=reason)
    return FileResult(input_path, output, "done", rows, seconds=time.perf_counter() - start)


def _write_scores(
    tagger: Any,
    settings: InferSettings,
    chunks: Iterable[tuple[Any, dict[str, np.ndarray]]],
    input_path: str,
    output: str,
) -> int:
    """Score each chunk of (model inputs, id columns) and write them to ``output`` (under a
    temporary name until complete); the number of rows."""
    rows = 0
    with ColumnWriter(output) as writer:
        for inputs, columns in chunks:
            outputs = tagger.outputs(inputs, settings.per_call)
            kept = {k: v for k, v in columns.items() if k not in ("row", "file")}
            row = np.arange(rows, rows + len(inputs))
            data: dict[str, Any] = score_columns(outputs, row=row, **kept)
            data["file"] = ak.Array([str(input_path)] * len(inputs))
            writer.write(data)
            rows += len(inputs)
        if rows == 0:
            msg = f"{input_path!r} gave nothing to score"
            raise ValueError(msg)
    return rows


def events_inputs(
    spec: ModelSpec, path: str, schema: str, step_size: int
) -> Iterator[tuple[Any, dict[str, np.ndarray]]]:
    """Per chunk of the events of ``path``: what the model scores, made by the producer its
    spec names (``spec.producer``), and the columns identifying each row (``event``, and
    for frames ``index`` and ``label``)."""
    from e2e_gnn.frames import Frames
    from e2e_gnn.frames.objects import ObjectGraphs
    from e2e_gnn.frames.run import PRODUCERS
    from e2e_gnn.graphs.batch import GraphBatch
    from e2e_gnn.io.reader import read_events

    info = spec.producer or {}
    kind = info.get("kind")
    if kind not in PRODUCERS:
        msg = (
            f"model {spec.name!r} does not say how its inputs are made from events (its spec "
            f"has producer {spec.producer!r}, known kinds {sorted(PRODUCERS)}): score graph or "
            f"frames files instead"
        )
        raise ValueError(msg)
    producer = PRODUCERS[kind][0](**info.get("options", {}))
    for events in read_events(path, schema, step_size=step_size):
        result = producer(events)
        if len(result) == 0:
            continue
        if isinstance(result, ObjectGraphs) and spec.graph is not None:
            picked = _pick(result.feature_names, spec.graph.feature_names, "node feature", kind)
            batch = GraphBatch(
                np.ascontiguousarray(result.x[:, picked]),
                result.edge_index,
                result.batch,
                result.num_graphs,
            )
            yield batch, {"event": result.event}
        elif isinstance(result, Frames) and not spec.is_graph_model:
            channels = (spec.frame or {}).get("channels") or result.channel_names
            picked = _pick(result.channel_names, channels, "channel", kind)
            frames = np.ascontiguousarray(result.data[:, picked], dtype=np.float32)
            yield frames, {"event": result.event, "index": result.index, "label": result.label}
        else:
            msg = f"producer {kind!r} makes {type(result).__name__}, not what {spec.name!r} takes"
            raise ValueError(msg)


def _pick(have: Sequence[str], want: Sequence[str], what: str, kind: str) -> list[int]:
    missing = [name for name in want if name not in have]
    if missing:
        msg = f"producer {kind!r} makes no {what} {missing}; it makes {list(have)}"
        raise ValueError(msg)
    return [list(have).index(name) for name in want]


def infer_files(
    model: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    executor: Literal["local", "dask"] = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    backend: str = "native",
    threads: int = 1,
    per_call: int = 1024,
    suffix: str = ".parquet",
    dataset: bool = False,
    verify_checksum: bool = True,
    schema: str | None = None,
    step_size: int = 10_000,
    progress: Progress | None = None,
    **options: Any,
) -> InferSummary:
    """Score every input file with ``model``, one output per input in ``out_dir``, or one
    parquet dataset ``out_dir``.

    Args:
        model: an exported ``.onnx`` file.
        inputs: graph files (graph models) or frames files (frame models): paths, glob
            patterns and lists of them in ``.txt`` files (see :func:`expand_inputs`).
        out_dir: where ``<input stem><suffix>`` is written for each input.
        executor: ``"local"`` (processes on this machine) or ``"dask"`` (a
            ``dask.distributed`` cluster: ``scheduler`` is its address; without one a
            ``LocalCluster`` of ``workers`` processes is started for the run).
        workers: processes (default: the cores of this machine; 1 runs in this process).
        backend, threads, options: as for :class:`~e2e_gnn.runtime.tagger.Tagger`.
        per_call: graphs or frames per inference call.
        suffix: ``.parquet`` or ``.root``.
        dataset: write ``out_dir`` as one parquet dataset (one part per input, all of one
            schema; see the module docstring) instead of ``<input stem><suffix>`` files.
        schema: the inputs are event files read with this schema (``"nanoaod"``, ...) in
            chunks of ``step_size`` events; the model's spec ``producer`` makes its inputs.
        progress: called in this process with each input's result as it completes.

    Returns the :class:`InferSummary`; failed inputs are in ``summary.failures`` (nothing
    is raised for them). Raises ValueError for arguments that fail every input (a pattern
    matching nothing, two inputs of one stem, an unreadable model).
    """
    from e2e_gnn.model_file import ModelFile

    start = time.perf_counter()
    spec = ModelFile.read(model, verify_checksum=verify_checksum).spec  # fails here, once
    if schema is not None and not (spec.producer or {}).get("kind"):
        msg = (
            f"model {str(model)!r} does not say how its inputs are made from events (no "
            f"producer in its spec): score graph or frames files, without a schema"
        )
        raise ValueError(msg)
    paths = expand_inputs(inputs)
    if not paths:
        msg = "no input files given"
        raise ValueError(msg)
    if dataset and suffix.lower() != ".parquet":
        msg = f"a dataset is written as parquet, not {suffix!r}"
        raise ValueError(msg)
    if dataset:
        outputs = dataset_paths(paths, out_dir)
        staging_path(outputs[0]).parent.mkdir(parents=True, exist_ok=True)
    else:
        outputs = output_paths(paths, out_dir, suffix.lower())
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    settings = InferSettings(
        str(Path(model).resolve()),
        backend,
        threads,
        per_call,
        verify_checksum,
        tuple(sorted(options.items())),
        schema,
        step_size,
        dataset,
    )
    tasks = [(str(p), str(o)) for p, o in zip(paths, outputs, strict=True)]
    if workers is not None and workers < 1:
        msg = f"workers must be >= 1, got {workers}"
        raise ValueError(msg)
    report = progress or (lambda result: None)
    if executor == "local":
        results = _run_local(settings, tasks, workers or os.cpu_count() or 1, report)
    elif executor == "dask":
        results = _run_dask(settings, tasks, workers, scheduler, report)
    else:
        msg = f"executor must be 'local' or 'dask', not {executor!r}"
        raise ValueError(msg)
    order = {task: i for i, task in enumerate(tasks)}
    results.sort(key=lambda r: order[(r.input, r.output)])
    if dataset:
        results = _one_schema(results)
        with contextlib.suppress(OSError):  # not empty after a crashed task: kept
            staging_path(outputs[0]).parent.rmdir()
    return InferSummary(results, time.perf_counter() - start)


def _one_schema(results: list[FileResult]) -> list[FileResult]:
    """The results of a dataset run, a part whose columns (names or types) differ from the
    first part's failed and removed: readers of a dataset take one schema for all parts."""
    import pyarrow.parquet as pq

    def columns(path: str) -> dict[str, str]:
        schema = pq.read_schema(path)
        return {f.name: str(getattr(f.type, "storage_type", f.type)) for f in schema}

    checked: list[FileResult] = []
    first: tuple[str, dict[str, str]] | None = None
    for result in results:
        if result.status != "failed":
            have = columns(result.output)
            if first is None:
                first = (result.input, have)
            elif have != first[1]:
                Path(result.output).unlink()
                reason = (
                    f"its score columns {have} differ from those of {first[0]!r} {first[1]}: "
                    f"one dataset needs one schema (score these inputs into another dataset)"
                )
                result = FileResult(result.input, result.output, "failed", reason=reason)
        checked.append(result)
    return checked


def _run_local(
    settings: InferSettings, tasks: list[tuple[str, str]], workers: int, report: Progress
) -> list[FileResult]:
    results: list[FileResult] = []
    if workers == 1 or len(tasks) == 1:
        for input_path, output in tasks:
            results.append(score_file(settings, input_path, output))
            report(results[-1])
        return results
    import multiprocessing

    todo = list(tasks)
    context = multiprocessing.get_context("spawn")  # no fork of a process running threads
    for attempt in range(LOCAL_RESTARTS + 1):
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=context) as pool:
            futures: dict[Future[FileResult], tuple[str, str]] = {
                pool.submit(score_file, settings, *task): task for task in todo
            }
            lost = []
            for future in as_completed(futures):
                task = futures[future]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    if attempt == LOCAL_RESTARTS:
                        reason = f"its worker process died {LOCAL_RESTARTS + 1} times"
                        result = FileResult(*task, "failed", reason=reason)
                    else:
                        lost.append(task)
                        continue
                results.append(result)
                report(result)
        if not lost:
            break
        todo = lost
    return results


def _run_dask(
    settings: InferSettings,
    tasks: list[tuple[str, str]],
    workers: int | None,
    scheduler: str | None,
    report: Progress,
) -> list[FileResult]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ModuleNotFoundError as err:
        msg = "executor 'dask' needs dask.distributed: pip install 'e2e-gnn[dask]'"
        raise ValueError(msg) from err
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
    results: list[FileResult] = []
    try:
        with Client(scheduler if cluster is None else cluster) as client:
            keys = [f"e2e_gnn-score-{i}-{Path(o).name}" for i, (_, o) in enumerate(tasks)]
            futures = [
                client.submit(score_file, settings, *task, key=key, pure=False)
                for task, key in zip(tasks, keys, strict=True)
            ]
            by_future = {f.key: task for f, task in zip(futures, tasks, strict=True)}
            for future in as_completed(futures):
                task = by_future[future.key]
                try:
                    result = future.result()
                except Exception as err:  # KilledWorker after dask's retries, a lost scheduler
                    reason = f"{type(err).__name__}: {' '.join(str(err).split())}"
                    result = FileResult(*task, "failed", reason=reason)
                results.append(result)
                report(result)
    finally:
        if cluster is not None:
            cluster.close()
    return results
