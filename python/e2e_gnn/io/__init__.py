"""Event files in, result files out: one module per file format.

- :mod:`~e2e_gnn.io.schema`: declarative schemas mapping a file format's branches to our
  fields (shipped: ``e2e_gnn`` for generated files, ``nanoaod`` for CMS NanoAOD);
- :mod:`~e2e_gnn.io.reader`: ``read_events`` chunked iteration with uproot into awkward;
- :mod:`~e2e_gnn.io.graph_files`: graph files (``.root``, ``.parquet``, ``.npz``) to and
  from a GraphBatch with named node features and per-graph columns;
- :mod:`~e2e_gnn.io.frame_files`: frames files (``.root``, ``.parquet``) with named channels;
- :mod:`~e2e_gnn.io.score_files`: scores (``.npz``, ``.csv``, ``.root``, ``.parquet``),
  ``score`` / ``score_<k>`` columns in every format;
- :mod:`~e2e_gnn.io.columns`: the container the others use, columns in a TTree or parquet,
  written under a temporary name and renamed when complete (:func:`atomic_path`);
- :mod:`~e2e_gnn.io.errors`: the exceptions, each naming the file and branch.
"""

from e2e_gnn.io.columns import ColumnWriter, atomic_path, read_columns, write_columns
from e2e_gnn.io.errors import (
    BranchTypeError,
    CorruptFileError,
    EmptyTreeError,
    FileContentError,
    InputFileError,
    MissingBranchError,
    MissingFileError,
    MissingTreeError,
    SchemaError,
)
from e2e_gnn.io.frame_files import FRAME_FILES, FrameFile, frame_columns, read_frames, write_frames
from e2e_gnn.io.graph_files import GRAPH_FILES, GraphFile, graph_columns, read_graphs, write_graphs
from e2e_gnn.io.reader import load_events, open_tree, read_events
from e2e_gnn.io.schema import Collection, Field, Schema, available_schemas, load_schema
from e2e_gnn.io.score_files import SCORE_FILES, score_columns, write_scores

__all__ = [
    "FRAME_FILES",
    "GRAPH_FILES",
    "SCORE_FILES",
    "BranchTypeError",
    "Collection",
    "ColumnWriter",
    "CorruptFileError",
    "EmptyTreeError",
    "Field",
    "FileContentError",
    "FrameFile",
    "GraphFile",
    "InputFileError",
    "MissingBranchError",
    "MissingFileError",
    "MissingTreeError",
    "Schema",
    "SchemaError",
    "atomic_path",
    "available_schemas",
    "frame_columns",
    "graph_columns",
    "load_events",
    "load_schema",
    "open_tree",
    "read_columns",
    "read_events",
    "read_frames",
    "read_graphs",
    "score_columns",
    "write_columns",
    "write_frames",
    "write_graphs",
    "write_scores",
]


def __dir__() -> list[str]:
    return __all__
