"""ROOT ingest and result writing.

- :mod:`~e2e_gnn.io.schema`: declarative schemas mapping a file format's branches to our
  fields (shipped: ``e2e_gnn`` for generated files, ``nanoaod`` for CMS NanoAOD);
- :mod:`~e2e_gnn.io.reader`: ``read_events`` chunked iteration with uproot into awkward;
- :mod:`~e2e_gnn.io.writers`: frames, graphs and scores to ROOT or parquet;
- :mod:`~e2e_gnn.io.errors`: the exceptions, each naming the file and branch.
"""

from e2e_gnn.io.errors import (
    BranchTypeError,
    CorruptFileError,
    EmptyTreeError,
    InputFileError,
    MissingBranchError,
    MissingFileError,
    MissingTreeError,
    SchemaError,
)
from e2e_gnn.io.reader import load_events, open_tree, read_events
from e2e_gnn.io.schema import Collection, Field, Schema, available_schemas, load_schema
from e2e_gnn.io.writers import (
    ColumnWriter,
    frame_columns,
    graph_columns,
    read_columns,
    read_frames,
    read_graphs,
    write_columns,
    write_frames,
    write_graphs,
    write_scores,
)

__all__ = [
    "BranchTypeError",
    "Collection",
    "ColumnWriter",
    "CorruptFileError",
    "EmptyTreeError",
    "Field",
    "InputFileError",
    "MissingBranchError",
    "MissingFileError",
    "MissingTreeError",
    "Schema",
    "SchemaError",
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
    "write_columns",
    "write_frames",
    "write_graphs",
    "write_scores",
]


def __dir__() -> list[str]:
    return __all__
