"""Type stubs of e2e_gnn._native, the pybind11 bindings of the C++ library (private)."""

from collections.abc import Sequence
from enum import Enum
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

__version__: str
SPEC_FORMAT: int

class Backend(Enum):
    cpu = 0
    cuda = 1

class SessionOptions:
    intra_op_threads: int
    inter_op_threads: int
    graph_optimization_level: int
    backend: Backend
    cuda_device: int
    verify_checksum: bool
    def __init__(self) -> None: ...

class Session:
    def __init__(self, model_path: str, options: SessionOptions = ...) -> None: ...
    @property
    def model_path(self) -> str: ...
    @property
    def backend(self) -> Backend: ...
    @property
    def inputs(self) -> list[tuple[str, str, list[int]]]: ...
    @property
    def outputs(self) -> list[tuple[str, str, list[int]]]: ...
    @property
    def metadata(self) -> dict[str, str]: ...
    @property
    def notes(self) -> list[str]: ...
    def run(self, inputs: dict[str, NDArray[np.generic]]) -> dict[str, NDArray[np.generic]]: ...

def check_graph_inputs(
    x: NDArray[np.float32],
    edge_index: NDArray[np.int64],
    batch: NDArray[np.int64],
    num_features: int = -1,
    u: NDArray[np.float32] | None = None,
    num_graph_features: int = -1,
) -> int: ...
def check_fixed_degree(
    edge_index: NDArray[np.int64], batch: NDArray[np.int64], k: int, loop: bool
) -> None: ...
def check_frames(frames: NDArray[np.float32], item_shape: Sequence[int] = ...) -> None: ...
def check_spec(metadata: dict[str, str], source: str = "model") -> None: ...
def check_spec_json(text: str, source: str = "model") -> None: ...
def intra_op_threads(
    requested: int, metadata: dict[str, str], source: str = "model"
) -> tuple[int, str]: ...

class GraphSpec:
    @staticmethod
    def from_json(text: str) -> GraphSpec: ...

@overload
def graphs_from_spec(
    graph_spec: GraphSpec, x: NDArray[np.float32], ptr: NDArray[np.int64], threads: int = 1
) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.int64]]: ...
@overload
def graphs_from_spec(
    graph_spec_json: str, x: NDArray[np.float32], ptr: NDArray[np.int64], threads: int = 1
) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.int64]]: ...
def knn_graph(
    pos: NDArray[np.float32],
    ptr: NDArray[np.int64],
    k: int,
    loop: bool = False,
    periodic: int = -1,
    period: float = ...,
    threads: int = 1,
) -> NDArray[np.int64]: ...
def threshold_graph(
    pos: NDArray[np.float32],
    layer: NDArray[np.int64],
    ptr: NDArray[np.int64],
    same_layer: float,
    adjacent_layer: float,
    loop: bool = False,
    periodic: int = -1,
    period: float = ...,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]: ...
def delaunay_graph(pos: NDArray[np.float32], ptr: NDArray[np.int64]) -> NDArray[np.int64]: ...
def detector_response(
    particles: dict[str, NDArray[np.generic]],
    n_events: int,
    config: dict[str, Any],
    rng: np.random.Generator,
) -> tuple[
    tuple[NDArray[np.int64], dict[str, NDArray[np.generic]]],
    tuple[NDArray[np.int64], dict[str, NDArray[np.generic]]],
    tuple[NDArray[np.int64], dict[str, NDArray[np.generic]]],
]: ...
def calorimeter_impact(
    tracks: dict[str, NDArray[np.generic]], field_t: float, radius_m: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def batch_graphs(
    graphs: Sequence[tuple[NDArray[np.float32], NDArray[np.int64]]],
) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.int64]]: ...

class Tagger:
    def __init__(
        self, model_path: str, options: SessionOptions = ..., knn_threads: int = 1
    ) -> None: ...
    @property
    def session(self) -> Session: ...
    @property
    def is_graph_model(self) -> bool: ...
    @property
    def num_features(self) -> int: ...
    @property
    def spec_version(self) -> str: ...
    @property
    def checksum(self) -> str: ...
    @property
    def per_node(self) -> dict[str, bool]: ...
    def run(
        self,
        x: NDArray[np.float32],
        edge_index: NDArray[np.int64],
        batch: NDArray[np.int64],
        u: NDArray[np.float32] | None = None,
    ) -> dict[str, NDArray[np.generic]]: ...
    def tag_nodes(
        self, x: NDArray[np.float32], ptr: NDArray[np.int64], u: NDArray[np.float32] | None = None
    ) -> NDArray[np.float32]: ...
    def build_graphs(
        self, x: NDArray[np.float32], ptr: NDArray[np.int64]
    ) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.int64]]: ...
    def tag_frames(self, frames: NDArray[np.float32]) -> NDArray[np.float32]: ...
    def run_frames(self, frames: NDArray[np.float32]) -> dict[str, NDArray[np.generic]]: ...
