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
missing ``optional`` field is left out of the result instead of raising. Every event also
gets the scalar ``entry``, its entry number in its file (so ``entry`` is reserved).

A collection stored as Cartesian four-momenta can derive the kinematics producers need with
the key ``derive``, a list taken from :data:`DERIVABLE` or ``"ptetaphim"`` for all four::

    [collections.jets]
    derive = "ptetaphim"            # adds pt, eta, phi, mass
    px = { branch = "Jet_Px", dtype = "float32" }
    py = { branch = "Jet_Py", dtype = "float32" }
    pz = { branch = "Jet_Pz", dtype = "float32" }
    energy = { branch = "Jet_E", dtype = "float32" }

Derived fields are computed in float64 from the branches and stored in the dtype of ``px``:

- ``pt = hypot(px, py)``;
- ``eta = asinh(pz / pt)``: 0 when ``pz = 0`` (also when ``pt = 0``), +-inf along the beam
  (``pt = 0``, ``pz != 0``), which frame producers refuse naming the entry;
- ``phi = atan2(py, px)`` in (-pi, pi] (0 when ``px = py = 0``);
- ``mass = sqrt(E^2 - |p|^2)``, with ``E^2 - |p|^2`` down to ``-1e-4 E^2`` (float rounding
  of a massless object) clamped to 0; more negative values raise :class:`SchemaError`
  naming the file and the entry: ``energy`` is probably mapped to the wrong branch.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e_gnn.io.errors import SchemaError

__all__ = [
    "DERIVABLE",
    "MASS2_TOLERANCE",
    "SCHEMA_DIR",
    "Collection",
    "Field",
    "Schema",
    "available_schemas",
    "load_schema",
]

SCHEMA_DIR = Path(__file__).parent / "schemas"

#: kinematic fields a collection can derive (``derive = [...]``), with the fields they need
DERIVABLE: dict[str, tuple[str, ...]] = {
    "pt": ("px", "py"),
    "eta": ("px", "py", "pz"),
    "phi": ("px", "py"),
    "mass": ("px", "py", "pz", "energy"),
}
_ALL_KINEMATICS = "ptetaphim"  # shorthand for every DERIVABLE field
#: a derived mass clamps E^2 - |p|^2 down to -MASS2_TOLERANCE * E^2 (float rounding of a
#: massless object) to 0 and refuses anything more negative
MASS2_TOLERANCE = 1e-4

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
    """A jagged collection (hits, jets, ...): fields sharing one per-event counter, plus the
    kinematic fields ``derive`` computes from them (see :data:`DERIVABLE`)."""

    name: str
    fields: tuple[Field, ...]
    derive: tuple[str, ...] = ()

    def sources(self) -> tuple[str, ...]:
        """The fields ``derive`` reads, in ``px, py, pz, energy`` order."""
        need = {f for d in self.derive for f in DERIVABLE[d]}
        return tuple(f for f in ("px", "py", "pz", "energy") if f in need)

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
        if any(f.name == "entry" for f in scalars):
            msg = (
                f"schema {source} [scalars]: 'entry' is reserved (reading adds each event's "
                "entry number in its file); call the field something else"
            )
            raise SchemaError(msg)
        collections = []
        for cname, fields in data.get("collections", {}).items():
            if not isinstance(fields, Mapping) or not fields:
                msg = (
                    f"schema {source}: [collections.{cname}] must be a table of fields, "
                    f"got {fields!r}"
                )
                raise SchemaError(msg)
            where = f"{source} [collections.{cname}]"
            collections.append(
                _collection(
                    cname,
                    tuple(_field(k, v, where) for k, v in fields.items() if k != "derive"),
                    fields.get("derive"),
                    where,
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


def _collection(name: str, fields: tuple[Field, ...], derive: Any, where: str) -> Collection:
    if derive is None:
        return Collection(name, fields)
    names = list(DERIVABLE) if derive == _ALL_KINEMATICS else derive
    if (
        not isinstance(names, list)
        or not names
        or any(d not in DERIVABLE for d in names)
        or len(set(names)) != len(names)
    ):
        msg = (
            f"schema {where}: derive = {derive!r}; use {_ALL_KINEMATICS!r} or a list of "
            f"distinct names from {list(DERIVABLE)}"
        )
        raise SchemaError(msg)
    coll = Collection(name, fields, tuple(names))
    by_name = {f.name: f for f in fields}
    clash = [d for d in names if d in by_name]
    if clash:
        msg = f"schema {where}: fields {clash!r} are both read from branches and derived"
        raise SchemaError(msg)
    missing = [f for f in coll.sources() if f not in by_name]
    if missing:
        msg = (
            f"schema {where}: deriving {names!r} needs the fields {missing!r} "
            f'(e.g. px = {{ branch = "Jet_Px", dtype = "float32" }}); the collection has '
            f"{list(by_name)}"
        )
        raise SchemaError(msg)
    unusable = [
        f
        for f in coll.sources()
        if by_name[f].optional or by_name[f].dtype not in ("float32", "float64")
    ]
    if unusable:
        msg = (
            f"schema {where}: fields {unusable!r} feed derive, so they must be float32 or "
            "float64 and not optional"
        )
        raise SchemaError(msg)
    return coll


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
