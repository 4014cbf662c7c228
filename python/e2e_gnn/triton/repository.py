"""Write a Triton model repository for an exported model (``export-onnx --triton-repo DIR``).

For a model ``NAME`` it writes (each entry selectable with ``variants``)::

    DIR/NAME/config.pbtxt                 onnxruntime_onnx platform (NGC tritonserver)
    DIR/NAME/1/model.onnx
    DIR/NAME_python/config.pbtxt          python backend running onnxruntime (any tritonserver,
    DIR/NAME_python/1/model.py            including the CPU build in the nvidia-pytriton wheel)
    DIR/NAME_python/1/model.onnx
    DIR/NAME_graph_builder/config.pbtxt   python backend: hits -> graph (graphs_from_spec)
    DIR/NAME_graph_builder/1/model.py
    DIR/NAME_hits/config.pbtxt            ensemble: hits -> graph builder -> GNN -> outputs
    DIR/NAME_hits/1/

A frame model (a CNN on frames [B, C, H, W] or layered frames [B, C, L, H, W]) gets the
first two entries only: it takes its frames as they are, there is no graph to build.

Every entry serves all of the model's outputs, in its order: per-graph outputs [G, C] and
per-node outputs [N, C] (one row per node, graph after graph; the client splits them per
graph). A model with graph features takes ``u`` [G, F_u] as a fourth input; the ensemble
takes it next to the hits and hands it to the GNN unchanged.

The model is read once with :class:`~e2e_gnn.model_file.ModelFile` (its checksum verified);
every config carries the export's checksum and version as parameters, which the client
compares with its local export, and the rows of each output (``e2e_gnn.output_rows``: one
per node or per graph), for clients without the local export. Every written config is
validated before returning.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from e2e_gnn import custom_ops
from e2e_gnn.model_file import ModelFile
from e2e_gnn.runtime.triton_protocol import OUTPUT_ROWS_KEY, expected_outputs, output_rows
from e2e_gnn.spec import (
    CHECKSUM_KEY,
    GRAPH_INPUTS,
    VERSION_KEY,
    GraphSpec,
    frame_inputs,
    graph_inputs,
)
from e2e_gnn.triton.config import (
    ConfigError,
    Deployment,
    ModelIO,
    TritonTensor,
    ensemble_config,
    graph_builder_config,
    onnx_config,
    python_onnx_config,
    to_pbtxt,
    validate_repository,
)

TEMPLATES = Path(__file__).with_name("templates")
VARIANTS = ("onnx", "python", "ensemble")
# what a frame model can be served as: no graph, so no hits ensemble
FRAME_VARIANTS = ("onnx", "python")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class WrittenRepository:
    """What :func:`write_repository` wrote: the repository root and model names by variant."""

    root: Path
    models: dict[str, str]


def _dims(shape: tuple[int | str, ...]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else -1 for d in shape)


def _is_frame_model(model: ModelFile) -> bool:
    """A CNN on frames: a frame spec and no graph spec."""
    return model.spec.graph is None and model.spec.frame_shape is not None


def model_io(model: ModelFile) -> ModelIO:
    """Tensors of the exported model: its inputs (a graph model's x, edge_index, batch, and
    ``u`` when the graph spec names graph features; a frame model's frames) with their
    static sizes from the ONNX file, and every output; an output's first axis (one row per
    node, graph or image, as the spec says) is variable."""
    graph, frame_shape = model.spec.graph, model.spec.frame_shape
    if graph is None and frame_shape is not None:  # a frame model
        kind, expected = "frame", [t.name for t in frame_inputs(frame_shape)]
    else:
        kind = "graph"
        expected = [t.name for t in (graph_inputs(graph) if graph is not None else GRAPH_INPUTS)]
    if sorted(model.input_names) != sorted(expected):
        msg = (
            f"{str(model.path)!r} has inputs {list(model.input_names)!r}; a {kind} model "
            f"served by Triton takes {expected!r}"
        )
        raise ConfigError(msg)
    outputs = []
    for tensor in expected_outputs(model):
        if not tensor.shape or not isinstance(tensor.shape[0], str):
            msg = (
                f"{str(model.path)!r}: output {tensor.name!r} has shape {list(tensor.shape)!r}; "
                f"its first axis must be variable (one row per node or per graph): re-export "
                f"with e2e-gnn export-onnx"
            )
            raise ConfigError(msg)
        outputs.append(TritonTensor(tensor.name, tensor.dtype, _dims(tensor.shape)))
    inputs = tuple(TritonTensor(t.name, t.dtype, _dims(t.shape)) for t in model.inputs)
    return ModelIO(inputs=inputs, outputs=tuple(outputs))


def ensemble_graph_spec(model: ModelFile, n_features: int) -> GraphSpec:
    """The model's graph spec, checked to be one the graph builder can build from hits:
    e2e_gnn's graph builder is asked to build a two-hit graph with it."""
    from e2e_gnn.graphs.from_frames import graphs_from_spec

    graph = model.spec.graph
    if graph is None:
        msg = (
            f"{str(model.path)!r} has no graph spec: the hits ensemble cannot build its "
            f"graphs; write variants={FRAME_VARIANTS!r} only"
        )
        raise ConfigError(msg)
    if n_features > 0 and len(graph.feature_names) != n_features:
        msg = (
            f"{str(model.path)!r}: graph spec has {len(graph.feature_names)} feature_names "
            f"but the model's x has {n_features} columns"
        )
        raise ConfigError(msg)
    hits = np.zeros((2, len(graph.feature_names)), dtype=np.float32)
    try:
        graphs_from_spec(hits, np.array([0, 2]), graph)
    except ValueError as err:
        msg = (
            f"the hits ensemble cannot build graphs from {str(model.path)!r}'s graph spec: "
            f"{err}; write variants=('onnx', 'python') only"
        )
        raise ConfigError(msg) from err
    return graph


def _deployable_threads(model: ModelFile, deployment: Deployment) -> Deployment:
    if model.spec.thread_safe or deployment.intra_op_threads == 1:
        return deployment
    warnings.warn(
        f"{str(model.path)!r} is not thread-safe (its spec says thread_safe false: ONNX "
        f"Runtime loses aggregation updates on more than one intra-op thread): writing "
        f"intra-op threads 1, not {deployment.intra_op_threads}",
        RuntimeWarning,
        stacklevel=3,
    )
    return dataclasses.replace(deployment, intra_op_threads=1)


def _op_libraries(model: ModelFile) -> list[Path]:
    """The custom operator libraries the model's graph needs, as absolute paths of this
    installation (a server elsewhere needs its own path in ``model_operations``)."""
    unknown = set(model.custom_domains) - {custom_ops.DOMAIN}
    if unknown:
        msg = (
            f"{str(model.path)!r} uses operators of domain(s) {sorted(unknown)}, which "
            f"e2e_gnn does not provide; only {custom_ops.DOMAIN!r} can be served"
        )
        raise ConfigError(msg)
    return [custom_ops.library_path().resolve()] if model.custom_domains else []


def write_repository(
    model_path: str | Path,
    root: str | Path,
    *,
    name: str | None = None,
    deployment: Deployment | None = None,
    variants: Sequence[str] | None = None,
    ensemble_gnn: str = "python",
    version: int = 1,
    verify_checksum: bool = True,
) -> WrittenRepository:
    """Write the repository entries for one exported model and validate them.

    Args:
        model_path: self-contained ``.onnx`` from ``export-onnx``.
        root: repository directory (created; other models in it are kept).
        name: model name (default: the spec's name, else the file name without ``.onnx``).
        deployment: instance kind/count and thread settings (default: 1 CPU instance); a
            model that is not thread-safe gets 1 intra-op thread, with a RuntimeWarning.
        variants: any of ``"onnx"``, ``"python"``, ``"ensemble"`` (graph models only);
            default: :data:`FRAME_VARIANTS` for a frame model (frame spec, no graph
            spec), else :data:`VARIANTS`.
        ensemble_gnn: which GNN entry the ensemble runs: ``"python"`` (any server) or
            ``"onnx"`` (servers with the onnxruntime backend).
        version: version directory number.
        verify_checksum: refuse a model whose graph and weights no longer match its
            checksum (the checksum every config carries and clients compare).
    """
    model_path, root = Path(model_path), Path(root)
    model = ModelFile.read(model_path, verify_checksum=verify_checksum)
    if model.external_data:
        msg = (
            f"{str(model_path)!r} keeps {len(model.external_data)} tensor(s) (e.g. "
            f"{model.external_data[0]!r}) in an external data file; Triton needs one "
            f"self-contained file: export with external_data=False or re-save with "
            f"onnx.save_model(model, path, save_as_external_data=False)"
        )
        raise ConfigError(msg)
    if variants is None:
        variants = FRAME_VARIANTS if _is_frame_model(model) else VARIANTS
    name = name or model.spec.name or model_path.name.removesuffix(".onnx")
    if not _NAME.fullmatch(name):
        msg = f"model name {name!r} must be letters, digits, '_', '-', '.' (e.g. 'gnn_tagger')"
        raise ConfigError(msg)
    unknown = set(variants) - set(VARIANTS)
    if unknown or ensemble_gnn not in ("python", "onnx"):
        msg = f"variants {list(variants)!r} / ensemble_gnn {ensemble_gnn!r}: use {VARIANTS!r}"
        raise ConfigError(msg)
    if "ensemble" in variants and ensemble_gnn not in variants:
        msg = f"the ensemble runs the {ensemble_gnn!r} variant: add it to variants"
        raise ConfigError(msg)
    if version < 1:
        msg = f"version must be >= 1 (Triton ignores '0...' folders), got {version!r}"
        raise ConfigError(msg)
    deployment = _deployable_threads(model, deployment or Deployment())
    io = model_io(model)
    graph = None
    if "ensemble" in variants:  # checked before anything is written
        x = next((t for t in io.inputs if t.name == GRAPH_INPUTS[0].name), None)
        graph = ensemble_graph_spec(model, x.dims[1] if x is not None else 0)
    identity = {
        CHECKSUM_KEY: model.checksum,
        VERSION_KEY: model.version,
        OUTPUT_ROWS_KEY: output_rows(model),
    }
    names = {"onnx": name, "python": f"{name}_python"}
    configs = {}

    def entry(entry_name: str, config: Any, files: dict[str, Path]) -> None:
        folder = root / entry_name
        (folder / str(version)).mkdir(parents=True, exist_ok=True)
        for target, source in files.items():
            shutil.copyfile(source, folder / str(version) / target)
        (folder / "config.pbtxt").write_text(to_pbtxt(config))
        configs[entry_name] = config

    if "onnx" in variants:
        libraries = _op_libraries(model)
        config = onnx_config(name, io, deployment, identity, libraries)
        entry(name, config, {"model.onnx": model_path})
    if "python" in variants:
        entry(
            names["python"],
            python_onnx_config(
                names["python"], io, deployment, identity, thread_safe=model.spec.thread_safe
            ),
            {"model.onnx": model_path, "model.py": TEMPLATES / "onnx_model.py"},
        )
    if graph is not None:
        names["graph_builder"], names["ensemble"] = f"{name}_graph_builder", f"{name}_hits"
        builder = graph_builder_config(names["graph_builder"], graph, io, deployment)
        entry(names["graph_builder"], builder, {"model.py": TEMPLATES / "graph_builder.py"})
        gnn = configs[names[ensemble_gnn]]
        entry(names["ensemble"], ensemble_config(names["ensemble"], builder, gnn, identity), {})
        # an ensemble's version folder stays empty; the marker keeps it in version control
        (root / names["ensemble"] / str(version) / ".gitkeep").touch()
    validate_repository(root)
    return WrittenRepository(root=root, models={k: v for k, v in names.items() if v in configs})
