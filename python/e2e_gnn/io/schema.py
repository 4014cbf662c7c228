"""Declarative event schemas: which branch of a user's file feeds which of our fields.

A schema is data. It is a small TOML file (shipped ones live in ``io/schemas/``) or the
equivalent dictionary::

    name = "my_experiment"
    tree = "Events"

    [scalars]
    event = { branch = "eventNumber", dtype = "int64" }

    [collections.hits]
    eta = { branch = "cell_eta", dtype = "float32" }
    energy = { branch = "cell_e", dtype = "float32" }
    truth_fraction = { branch = "cell_frac", dtype = "float32", optional = true }

Scalars are one value per event; collection fields are jagged (one list per event) and all
fields of a collection must share a counter. Reading casts every field to its ``dtype``; a
missing ``optional`` field is left out of the result instead of raising.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e_gnn.io.errors import SchemaError

__all__ = ["SCHEMA_DIR", "Collection", "Field", "Schema", "available_schemas", "load_schema"]

SCHEMA_DIR = Path(__file__).parent / "schemas"

#: dtypes a field may declare, with the numpy kinds of branch data that convert safely
_ACCEPTED_KINDS = {
    "float32": "biuf",
    "float64": "biuf",
    "int32": "biu",
    "int64": "biu",
    "bool": "biu",
}


@dataclass(frozen=True)
class Field:
    """One of our fields (``name``) read from a branch of the file."""

    name: str
    branch: str
    dtype: str
    optional: bool = False

    def accepts(self, kind: str) -> bool:
        """Whether branch data of numpy kind ``kind`` ('f', 'i', ...) converts to ``dtype``."""
        return kind in _ACCEPTED_KINDS[self.dtype]


@dataclass(frozen=True)
class Collection:
    """A jagged collection (hits, jets, ...): fields sharing one per-event counter."""

    name: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        """The field called ``name``; KeyError listing the known fields otherwise."""
        for f in self.fields:
            if f.name == name:
                return f
        msg = (
            f"collection {self.name!r} has no field {name!r}; fields: "
            f"{[f.name for f in self.fields]}"
        )
        raise KeyError(msg)


@dataclass(frozen=True)
class Schema:
    """Maps a file format's branches onto our scalar fields and collections."""

    name: str
    tree: str
    scalars: tuple[Field, ...]
    collections: tuple[Collection, ...]
    description: str = ""

    def collection(self, name: str) -> Collection:
        """The collection called ``name``; KeyError listing the known collections otherwise."""
        for c in self.collections:
            if c.name == name:
                return c
        msg = (
            f"schema {self.name!r} has no collection {name!r}; collections: "
            f"{[c.name for c in self.collections]}"
        )
        raise KeyError(msg)

    def select(
        self, collections: Iterable[str] | None = None, scalars: Iterable[str] | None = None
    ) -> Schema:
        """A schema restricted to the named collections and scalars (None keeps all)."""
        cols = self.collections
        if collections is not None:
            cols = tuple(self.collection(n) for n in collections)
        scs = self.scalars
        if scalars is not None:
            by_name = {s.name: s for s in self.scalars}
            unknown = [n for n in scalars if n not in by_name]
            if unknown:
                msg = f"schema {self.name!r} has no scalar(s) {unknown!r}; scalars: {list(by_name)}"
                raise KeyError(msg)
            scs = tuple(by_name[n] for n in scalars)
        return Schema(self.name, self.tree, scs, cols, self.description)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> Schema:
        """Build a schema from the dictionary form of a schema file."""
        known = {"name", "tree", "description", "scalars", "collections"}
        extra = sorted(set(data) - known)
        if extra:
            msg = f"schema {source}: unknown top-level key(s) {extra!r}; allowed: {sorted(known)}"
            raise SchemaError(msg, file_path=None)
        if "name" not in data:
            msg = f"schema {source}: missing 'name'"
            raise SchemaError(msg)
        scalars = tuple(
            _field(k, v, f"{source} [scalars]") for k, v in data.get("scalars", {}).items()
        )
        collections = []
        for cname, fields in data.get("collections", {}).items():
            if not isinstance(fields, Mapping) or not fields:
                msg = (
                    f"schema {source}: [collections.{cname}] must be a table of fields, "
                    f"got {fields!r}"
                )
                raise SchemaError(msg)
            collections.append(
                Collection(
                    cname,
                    tuple(
                        _field(k, v, f"{source} [collections.{cname}]") for k, v in fields.items()
                    ),
                )
            )
        if not scalars and not collections:
            msg = f"schema {source}: declares neither scalars nor collections"
            raise SchemaError(msg)
        return cls(
            name=str(data["name"]),
            tree=str(data.get("tree", "Events")),
            scalars=scalars,
            collections=tuple(collections),
            description=str(data.get("description", "")),
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> Schema:
        """Read a schema file."""
        path = Path(path)
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError as err:
            msg = (
                f"schema file {str(path)!r} does not exist; shipped schemas: {available_schemas()}"
            )
            raise SchemaError(
                msg,
                file_path=path,
            ) from err
        except tomllib.TOMLDecodeError as err:
            msg = f"schema file {str(path)!r} is not valid TOML: {err}"
            raise SchemaError(msg, file_path=path) from err
        return cls.from_dict(data, source=repr(str(path)))


def _field(name: str, spec: Any, where: str) -> Field:
    if not isinstance(spec, Mapping) or "branch" not in spec or "dtype" not in spec:
        msg = (
            f"schema {where}: field {name!r} must be a table like "
            f'{{ branch = "Branch_name", dtype = "float32" }}, got {spec!r}'
        )
        raise SchemaError(msg)
    extra = sorted(set(spec) - {"branch", "dtype", "optional"})
    if extra:
        msg = f"schema {where}: field {name!r} has unknown key(s) {extra!r}"
        raise SchemaError(msg)
    dtype = str(spec["dtype"])
    if dtype not in _ACCEPTED_KINDS:
        msg = (
            f"schema {where}: field {name!r} has dtype {dtype!r}; use one of "
            f"{sorted(_ACCEPTED_KINDS)}"
        )
        raise SchemaError(msg)
    return Field(name, str(spec["branch"]), dtype, bool(spec.get("optional", False)))


def available_schemas() -> list[str]:
    """Names of the schemas shipped with the package (``load_schema`` accepts them)."""
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.toml"))


def load_schema(schema: str | os.PathLike[str] | Schema) -> Schema:
    """A shipped schema by name (``"e2e_gnn"``, ``"nanoaod"``), a TOML path, or a Schema."""
    if isinstance(schema, Schema):
        return schema
    text = str(schema)
    if text in available_schemas():
        return Schema.from_toml(SCHEMA_DIR / f"{text}.toml")
    if text.endswith(".toml") or Path(text).exists():
        return Schema.from_toml(text)
    msg = (
        f"unknown schema {text!r}: give a shipped schema name {available_schemas()} "
        "or the path of a .toml schema file"
    )
    raise SchemaError(msg)
