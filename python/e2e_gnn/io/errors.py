"""Exceptions raised while reading or writing event files.

Every exception names the file (and the tree or branch when there is one) and says what
would work, in the style of uproot's ``KeyInFileError``. They derive from the builtin
exception a caller would naturally catch (``FileNotFoundError``, ``KeyError``, ...) and from
:class:`InputFileError`, so ``except InputFileError`` catches all of them.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence

__all__ = [
    "BranchTypeError",
    "CorruptFileError",
    "EmptyTreeError",
    "FileContentError",
    "InputFileError",
    "MissingBranchError",
    "MissingFileError",
    "MissingTreeError",
    "SchemaError",
    "closest_names",
]


def closest_names(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """The candidates most similar to ``name`` (case-insensitive), best first."""
    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]


class InputFileError(Exception):
    """Base class: something is wrong with an event file or with how it is being read."""

    def __init__(self, message: str, *, file_path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file_path = None if file_path is None else str(file_path)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.message


class MissingFileError(InputFileError, FileNotFoundError):
    """The path does not exist or is not a regular file."""


class CorruptFileError(InputFileError, OSError):
    """The file exists but is not a readable ROOT file (truncated, corrupt, other format)."""


class MissingTreeError(InputFileError, KeyError):
    """The file has no TTree of the requested name."""

    def __init__(
        self,
        tree: str,
        available: Sequence[str],
        *,
        file_path: str | os.PathLike[str],
        detail: str = "",
    ) -> None:
        close = closest_names(tree, available)
        hint = f"; closest: {close}" if close else ""
        listed = f"; trees in file: {sorted(available)}" if available else "; file has no TTree"
        super().__init__(
            f"no TTree {tree!r} in file {str(file_path)!r}{detail}{hint}{listed}",
            file_path=file_path,
        )
        self.tree = tree
        self.closest = close


class MissingBranchError(InputFileError, KeyError):
    """One or more branches required by the schema are absent from the tree."""

    def __init__(
        self,
        missing: dict[str, str],
        available: Sequence[str],
        *,
        file_path: str | os.PathLike[str],
        tree: str,
    ) -> None:
        lines = []
        for branch, field in missing.items():
            close = closest_names(branch, available)
            hint = f" (closest: {close})" if close else " (no similar branch)"
            lines.append(f"  {branch!r} for field {field!r}{hint}")
        super().__init__(
            f"tree {tree!r} in file {str(file_path)!r} lacks {len(missing)} branch(es) the "
            "schema needs:\n" + "\n".join(lines) + "\nmap the fields to existing branches in "
            "the schema, or mark them optional = true",
            file_path=file_path,
        )
        self.branches = list(missing)
        self.tree = tree


class BranchTypeError(InputFileError, TypeError):
    """A branch exists but holds data the schema cannot convert to the declared type."""

    def __init__(
        self,
        branch: str,
        found: str,
        expected: str,
        *,
        file_path: str | os.PathLike[str],
        tree: str,
    ) -> None:
        super().__init__(
            f"branch {branch!r} of tree {tree!r} in file {str(file_path)!r} has type "
            f"{found!r}, expected {expected}",
            file_path=file_path,
        )
        self.branch = branch


class EmptyTreeError(InputFileError, ValueError):
    """The tree (or the requested entry range) holds no events."""


class FileContentError(InputFileError, ValueError):
    """A graph, frame or score file reads, but breaks its layout: missing or flat
    ``Node``/``Edge`` branches, an edge index outside its graph, a node feature or frame
    channel the model needs."""


class SchemaError(InputFileError, ValueError):
    """A schema file or dictionary is malformed."""
