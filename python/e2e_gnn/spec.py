"""What a model expects and produces, written into and read from ONNX metadata.

An exported model carries its :class:`ModelSpec` as JSON under the metadata key
``e2e_gnn.spec``, so Python, C++ and Triton build the same inputs from the model file
alone. Imported by graphs, export and runtime; imports neither torch nor onnx.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
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

    @property
    def per_node(self) -> bool:
        """An output with one row per node (first axis ``"nodes"``); else one per graph or
        image. Node rows of graph g are ``node_ptr[g]:node_ptr[g + 1]`` of the batch."""
        return bool(self.shape) and self.shape[0] == "nodes"


@dataclass(frozen=True)
class GraphSpec:
    """How the graphs a model was trained on are built from nodes.

    Attributes:
        feature_names: one name per column of ``x``.
        builder: edge builder: ``"knn"``; ``"delaunay"`` (the triangulation in the two
            coordinates, taken as (eta, phi): each phi is first moved by a multiple of 2 pi
            to within pi of its graph's first node, so graphs spanning less than pi in phi
            triangulate across phi = +-pi); ``"threshold"`` (layered distance thresholds:
            ``layer``, ``same_layer``, ``adjacent_layer``); ``"none"`` (no edges, e.g.
            PointNet); and, not buildable by the runtimes from the spec, ``"given"``.
        k: neighbours per node for ``"knn"``.
        loop: whether every node is its own neighbour.
        coordinates: the columns of ``x`` the edges are built from.
        coordinate_scale: per-coordinate scale applied before measuring distances.
        fixed_degree: edges come target-sorted with the same number per node (kNN
            builders guarantee it), which lets layers aggregate without scatter.
        graph_feature_names: one name per column of the graph-level input ``u``
            [graphs, F_u] (jet and event features); empty: the model takes no ``u``.
        layer: for ``"threshold"``: the feature holding each node's layer number (a whole
            number); None: every node in one layer.
        same_layer: for ``"threshold"``: nodes of the same layer at most this far apart
            (Euclidean over the scaled coordinates, no wrap-around) are joined, both ways;
            negative: no such edges. None (specs written before it was recorded): the
            runtimes cannot build the edges.
        adjacent_layer: for ``"threshold"``: likewise for nodes whose layers differ by 1.
    """

    feature_names: tuple[str, ...]
    builder: str = "knn"
    k: int | None = 16
    loop: bool = False
    coordinates: tuple[str, ...] = ()
    coordinate_scale: tuple[float, ...] = ()
    fixed_degree: bool = False
    graph_feature_names: tuple[str, ...] = ()
    layer: str | None = None
    same_layer: float | None = None
    adjacent_layer: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GraphSpec:
        tuples = ("feature_names", "coordinates", "coordinate_scale", "graph_feature_names")
        # null is "not given" (the C++ reader's rule), except for k, where it means no k
        known: dict[str, Any] = {
            key: tuple(v) if key in tuples else v
            for key, v in _known(cls, data).items()
            if v is not None or key == "k"
        }
        return cls(**known)


# Axes whose size changes from call to call; other named axes are fixed by the model.
DYNAMIC_AXES = ("nodes", "edges", "graphs", "images")

GRAPH_INPUTS = (
    TensorSpec("x", "float32", ("nodes", "features"), "node features, graphs concatenated"),
    TensorSpec("edge_index", "int64", (2, "edges"), "(source, target) node indices"),
    TensorSpec("batch", "int64", ("nodes",), "graph id of each node, sorted, 0..G-1"),
)
# the fourth input of a model whose GraphSpec names graph features
GRAPH_FEATURE_INPUT = TensorSpec(
    "u", "float32", ("graphs", "graph_features"), "graph-level features, one row per graph"
)


def graph_inputs(graph: GraphSpec) -> tuple[TensorSpec, ...]:
    """The inputs of a graph model built on ``graph``: x, edge_index, batch, and ``u`` when
    the graph spec names graph features."""
    return GRAPH_INPUTS + ((GRAPH_FEATURE_INPUT,) if graph.graph_feature_names else ())


def node_output(name: str, width: int, meaning: str = "") -> TensorSpec:
    """A per-node output ``name`` [nodes, width] (see :attr:`TensorSpec.per_node`)."""
    return TensorSpec(name, "float32", ("nodes", width), meaning)


GRAPH_OUTPUTS = (
    TensorSpec("scores", "float32", ("graphs", "classes"), "per-graph class probabilities"),
)
FRAME_INPUTS = (
    TensorSpec("frames", "float32", ("images", "channels", "height", "width"), "detector frames"),
)
# layered images (``frames --kind layered``): channels, depth layers, then eta and phi bins
LAYERED_FRAME_INPUTS = (
    TensorSpec(
        "frames",
        "float32",
        ("images", "channels", "layers", "height", "width"),
        "layered calorimeter images",
    ),
)
FRAME_OUTPUTS = (
    TensorSpec("scores", "float32", ("images", "classes"), "per-frame class probabilities"),
)


def frame_inputs(frame_shape: tuple[int, ...] | list[int]) -> tuple[TensorSpec, ...]:
    """The inputs of a frame model whose frames are ``frame_shape`` ([C, H, W] or layered
    [C, L, H, W])."""
    return LAYERED_FRAME_INPUTS if len(frame_shape) == 4 else FRAME_INPUTS


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
    # True when every aggregation of the exported graph is exact under any ONNX Runtime
    # session options (thread count, optimisation level). Models exported before this
    # field existed read as False: the runtimes run them on one intra-op thread.
    thread_safe: bool = False
    # How the model's inputs are made from events, for `e2e-gnn infer --schema`: the frame
    # producer ``kind`` of ``e2e-gnn frames`` (e.g. "objects", "jet"), its ``options`` and
    # the ``schema`` events are read with. None (older models): inputs come as files.
    producer: dict[str, Any] | None = None

    @property
    def num_features(self) -> int | None:
        return len(self.graph.feature_names) if self.graph else None

    @property
    def num_graph_features(self) -> int:
        """Width of the graph-level input ``u`` (0: the model takes none)."""
        return len(self.graph.graph_feature_names) if self.graph else 0

    @property
    def is_graph_model(self) -> bool:
        """A model with a graph spec (the C++ Tagger's rule): it takes x, edge_index, batch."""
        return self.graph is not None

    @property
    def frame_shape(self) -> tuple[int, ...] | None:
        """(channels, height, width) of a frame model's input (layered: (channels, layers,
        height, width)), from the frame spec."""
        shape = (self.frame or {}).get("shape")
        return None if shape is None else tuple(shape)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> ModelSpec:
        """The spec of JSON ``text``; raises SpecError naming ``source`` and the field when it
        is malformed. The check is the C++ reader's (one rule for every path): a field of the
        wrong type is refused, never converted; unknown keys are ignored."""
        from e2e_gnn._native_loader import load_native

        load_native().check_spec_json(text, source)  # raises SpecError
        return cls._from_checked(json.loads(text))

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], source: str = "model") -> ModelSpec:
        """The spec of a model's ONNX metadata_props, checked as the C++ Tagger checks it: the
        spec present and well formed, its format this library's and the exporting e2e_gnn of
        this major version. Raises SpecError with the C++ message."""
        from e2e_gnn._native_loader import load_native

        load_native().check_spec(metadata, source)  # raises SpecError
        return cls._from_checked(json.loads(metadata[SPEC_KEY]))

    @classmethod
    def _from_checked(cls, data: dict[str, Any]) -> ModelSpec:
        graph = data.get("graph")
        return cls(
            **{
                **_known(cls, data),
                "inputs": tuple(_tensor_spec(t) for t in data["inputs"]),
                "outputs": tuple(_tensor_spec(t) for t in data["outputs"]),
                "graph": GraphSpec.from_dict(graph) if graph is not None else None,
            }
        )


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def _tensor_spec(data: dict[str, Any]) -> TensorSpec:
    return TensorSpec(**{**_known(TensorSpec, data), "shape": tuple(data["shape"])})
