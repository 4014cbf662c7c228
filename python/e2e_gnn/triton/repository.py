"""Write a Triton model repository for an exported GNN (``export-onnx --triton-repo DIR``).

For a model ``NAME`` it writes (each entry selectable with ``variants``)::

    DIR/NAME/config.pbtxt                 onnxruntime_onnx platform (NGC tritonserver)
    DIR/NAME/1/model.onnx
    DIR/NAME_python/config.pbtxt          python backend running onnxruntime (any tritonserver,
    DIR/NAME_python/1/model.py            including the CPU build in the nvidia-pytriton wheel)
    DIR/NAME_python/1/model.onnx
    DIR/NAME_graph_builder/config.pbtxt   python backend: hits -> kNN graph (the model's spec)
    DIR/NAME_graph_builder/1/model.py
    DIR/NAME_hits/config.pbtxt            ensemble: hits -> graph builder -> GNN -> scores
    DIR/NAME_hits/1/

Every config carries the export's checksum and version as parameters, which the client
compares with its local export. Every written config is validated before returning.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e_gnn.runtime.triton_backend import LocalModel
from e2e_gnn.spec import CHECKSUM_KEY, VERSION_KEY
from e2e_gnn.triton.config import (
    ConfigError,
    Deployment,
    GraphRecipe,
    ModelIO,
    ensemble_config,
    graph_builder_config,
    onnx_config,
    python_onnx_config,
    to_pbtxt,
    validate_repository,
)

TEMPLATES = Path(__file__).with_name("templates")
VARIANTS = ("onnx", "python", "ensemble")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class WrittenRepository:
    """What :func:`write_repository` wrote: the repository root and model names by variant."""

    root: Path
    models: dict[str, str]


def _static_dim(dim: Any) -> int:
    return int(dim) if isinstance(dim, int) and dim > 0 else -1


def _check_self_contained(path: Path) -> None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    external = [
        t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
    ]
    if external:
        msg = (
            f"{str(path)!r} keeps {len(external)} tensor(s) (e.g. {external[0]!r}) in an external "
            f"data file; Triton needs one self-contained file: export with external_data=False "
            f"or re-save with onnx.save_model(model, path, save_as_external_data=False)"
        )
        raise ConfigError(msg)


def model_io(path: Path, local: LocalModel) -> ModelIO:
    """Tensor specs of the exported GNN, static sizes taken from the ONNX file."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shapes = {t.name: t.shape for t in [*session.get_inputs(), *session.get_outputs()]}
    if len(local.inputs) != 3 or len(local.outputs) != 1:
        msg = (
            f"{str(path)!r} has inputs {list(local.inputs)!r} and outputs {list(local.outputs)!r}; "
            f"expected (x, edge_index, batch) -> (scores)"
        )
        raise ConfigError(msg)
    x = local.inputs[0]
    n_features = _static_dim(shapes[x][1]) if len(shapes[x]) == 2 else -1
    out = local.outputs[0]
    n_classes = _static_dim(shapes[out][1]) if len(shapes[out]) == 2 else -1
    return ModelIO.gnn(n_features, n_classes, names=local.inputs, output=out)


def recipe_from_spec(spec: dict[str, Any], n_features: int) -> GraphRecipe:
    """Graph recipe of the hits ensemble from the model's graph spec (``GraphSpec`` fields).

    Hits carry the node features in ``feature_names`` order; the recipe repeats how
    training builds graphs: kNN on ``coordinates`` (feature names) times ``coordinate_scale``.
    """
    graph = spec.get("graph") or {}
    names = list(graph.get("feature_names") or [])
    if graph.get("builder", "knn") != "knn" or not graph.get("k") or not graph.get("coordinates"):
        msg = (
            f"the model's graph spec {graph!r} is not a kNN graph with k and coordinates: the "
            f"hits ensemble cannot build its graphs; write variants=('onnx', 'python') only"
        )
        raise ConfigError(msg)
    if n_features > 0 and names and len(names) != n_features:
        msg = f"graph spec has {len(names)} feature_names but the model's x has {n_features}"
        raise ConfigError(msg)
    missing = [c for c in graph["coordinates"] if c not in names]
    if missing:
        msg = f"graph spec coordinates {missing!r} are not among feature_names {names!r}"
        raise ConfigError(msg)
    coordinates = tuple(names.index(c) for c in graph["coordinates"])
    scale = tuple(float(v) for v in graph.get("coordinate_scale") or [1.0] * len(coordinates))
    if len(scale) != len(coordinates):
        msg = f"coordinate_scale {scale!r} needs one value per coordinate {graph['coordinates']!r}"
        raise ConfigError(msg)
    return GraphRecipe(
        n_hit_features=len(names),
        coordinates=coordinates,
        coordinate_scale=scale,
        k=int(graph["k"]),
        loop=bool(graph.get("loop", False)),
    )


def write_repository(
    model_path: str | Path,
    root: str | Path,
    *,
    name: str | None = None,
    deployment: Deployment | None = None,
    variants: Sequence[str] = VARIANTS,
    ensemble_gnn: str = "python",
    recipe: GraphRecipe | None = None,
    version: int = 1,
) -> WrittenRepository:
    """Write the repository entries for one exported model and validate them.

    Args:
        model_path: self-contained ``.onnx`` from ``export-onnx``.
        root: repository directory (created; other models in it are kept).
        name: model name (default: the spec's name, else the file name without ``.onnx``).
        deployment: instance kind/count and thread settings (default: 1 CPU instance).
        variants: any of ``"onnx"``, ``"python"``, ``"ensemble"``.
        ensemble_gnn: which GNN entry the ensemble runs: ``"python"`` (any server) or
            ``"onnx"`` (servers with the onnxruntime backend).
        recipe: graph recipe of the ensemble (default: from the model's graph spec).
        version: version directory number.
    """
    model_path, root = Path(model_path), Path(root)
    _check_self_contained(model_path)
    local = LocalModel.read(model_path)
    name = name or local.spec.get("name") or model_path.name.removesuffix(".onnx")
    if not _NAME.match(name):
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
    deployment = deployment or Deployment()
    io = model_io(model_path, local)
    identity = {CHECKSUM_KEY: local.checksum, VERSION_KEY: local.version}
    names = {"onnx": name, "python": f"{name}_python"}
    configs = {}

    def entry(model: str, config: Any, files: dict[str, Path]) -> None:
        folder = root / model
        (folder / str(version)).mkdir(parents=True, exist_ok=True)
        for target, source in files.items():
            shutil.copyfile(source, folder / str(version) / target)
        (folder / "config.pbtxt").write_text(to_pbtxt(config))
        configs[model] = config

    if "onnx" in variants:
        entry(name, onnx_config(name, io, deployment, identity), {"model.onnx": model_path})
    if "python" in variants:
        entry(
            names["python"],
            python_onnx_config(names["python"], io, deployment, identity),
            {"model.onnx": model_path, "model.py": TEMPLATES / "onnx_model.py"},
        )
    if "ensemble" in variants:
        recipe = recipe or recipe_from_spec(local.spec, io.inputs[0].dims[1])
        names["graph_builder"], names["ensemble"] = f"{name}_graph_builder", f"{name}_hits"
        builder = graph_builder_config(names["graph_builder"], recipe, io, deployment)
        entry(names["graph_builder"], builder, {"model.py": TEMPLATES / "graph_builder.py"})
        gnn = configs[names[ensemble_gnn]]
        entry(names["ensemble"], ensemble_config(names["ensemble"], builder, gnn, identity), {})
        # an ensemble's version folder stays empty; the marker keeps it in version control
        (root / names["ensemble"] / str(version) / ".gitkeep").touch()
    validate_repository(root)
    return WrittenRepository(root=root, models={k: v for k, v in names.items() if v in configs})
