"""What a model expects and produces, written into and read from ONNX metadata.

An exported model carries its :class:`ModelSpec` as JSON under the metadata key
``e2e_gnn.spec``, so Python, C++ and Triton build the same inputs from the model file
alone. Imported by graphs, export and runtime; imports neither torch nor onnx.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SPEC_KEY = "e2e_gnn.spec"
CHECKSUM_KEY = "e2e_gnn.checksum"
VERSION_KEY = "e2e_gnn.version"
# Bumped when the meaning of a spec field changes; readers refuse other major versions.
SPEC_FORMAT = 1


class SpecError(ValueError):
    """A model's metadata is missing, malformed, or from an incompatible e2e_gnn."""


@dataclass(frozen=True)
class TensorSpec:
    """One named model input or output: dtype, shape (names for dynamic axes), meaning."""

    name: str
    dtype: str
    shape: tuple[str | int, ...]
    meaning: str = ""


@dataclass(frozen=True)
class GraphSpec:
    """How the graphs a model was trained on are built from nodes.

    Attributes:
        feature_names: one name per column of ``x``.
        builder: edge builder, ``"knn"``, ``"threshold"``, ``"delaunay"`` or ``"given"``.
        k: neighbours per node for ``"knn"``.
        loop: whether every node is its own neighbour.
        coordinates: the columns of ``x`` the edges are built from.
        coordinate_scale: per-coordinate scale applied before measuring distances.
        fixed_degree: edges come target-sorted with the same number per node (kNN
            builders guarantee it), which lets layers aggregate without scatter.
    """

    feature_names: tuple[str, ...]
    builder: str = "knn"
    k: int | None = 16
    loop: bool = False
    coordinates: tuple[str, ...] = ()
    coordinate_scale: tuple[float, ...] = ()
    fixed_degree: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GraphSpec:
        tuples = ("feature_names", "coordinates", "coordinate_scale")
        return cls(**{key: tuple(v) if key in tuples else v for key, v in data.items()})


# Axes whose size changes from call to call; other named axes are fixed by the model.
DYNAMIC_AXES = ("nodes", "edges", "graphs", "images")

GRAPH_INPUTS = (
    TensorSpec("x", "float32", ("nodes", "features"), "node features, graphs concatenated"),
    TensorSpec("edge_index", "int64", (2, "edges"), "(source, target) node indices"),
    TensorSpec("batch", "int64", ("nodes",), "graph id of each node, sorted, 0..G-1"),
)


GRAPH_OUTPUTS = (
    TensorSpec("scores", "float32", ("graphs", "classes"), "per-graph class probabilities"),
)
FRAME_INPUTS = (
    TensorSpec("frames", "float32", ("images", "channels", "height", "width"), "detector frames"),
)
FRAME_OUTPUTS = (
    TensorSpec("scores", "float32", ("images", "classes"), "per-frame class probabilities"),
)


@dataclass(frozen=True)
class ModelSpec:
    """Everything a deployment needs to know about an exported model."""

    name: str
    model_class: str
    hyperparameters: dict[str, Any]
    inputs: tuple[TensorSpec, ...] = GRAPH_INPUTS
    outputs: tuple[TensorSpec, ...] = GRAPH_OUTPUTS
    graph: GraphSpec | None = None
    frame: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    format: int = SPEC_FORMAT

    @property
    def num_features(self) -> int | None:
        return len(self.graph.feature_names) if self.graph else None

    @property
    def is_graph_model(self) -> bool:
        return self.inputs == GRAPH_INPUTS

    @property
    def frame_shape(self) -> tuple[int, ...] | None:
        """(channels, height, width) of a frame model's input, from the frame spec."""
        return tuple(self.frame["shape"]) if self.frame else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            data = json.loads(text)
            if data.get("format") != SPEC_FORMAT:
                msg = (
                    f"model spec format {data.get('format')!r} is not supported by this "
                    f"e2e_gnn (format {SPEC_FORMAT}): re-export the model with this version"
                )
                raise SpecError(msg)
            graph = data.pop("graph")
            return cls(
                **{
                    **data,
                    "inputs": tuple(_tensor_spec(t) for t in data["inputs"]),
                    "outputs": tuple(_tensor_spec(t) for t in data["outputs"]),
                    "graph": GraphSpec.from_dict(graph) if graph else None,
                }
            )
        except (KeyError, TypeError, json.JSONDecodeError) as err:
            msg = f"malformed e2e_gnn model spec: {err}"
            raise SpecError(msg) from err

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], source: str = "model") -> ModelSpec:
        if SPEC_KEY not in metadata:
            msg = (
                f"{source} has no {SPEC_KEY!r} metadata: it was not exported by "
                f"`e2e-gnn export-onnx` (metadata keys: {sorted(metadata)})"
            )
            raise SpecError(msg)
        return cls.from_json(metadata[SPEC_KEY])


def _tensor_spec(data: dict[str, Any]) -> TensorSpec:
    return TensorSpec(**{**data, "shape": tuple(data["shape"])})
