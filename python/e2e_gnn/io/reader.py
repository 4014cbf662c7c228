"""Read events from ROOT TTrees into awkward records with our field names.

``read_events`` checks everything it can before reading a single basket (file, tree,
branches, their types, the entry range) and raises an :mod:`e2e_gnn.io.errors` exception
naming the file and branch; a corrupt basket found while iterating raises
:class:`CorruptFileError` naming the file and the entry range. It never yields an empty
chunk and never returns silently with no events.

Each event carries the scalar ``entry``, its entry number in its file (counted from 0 at
the start of the file whatever ``entry_start`` and ``step_size`` are), so events keep one id
across chunks when the file has no event-number branch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from e2e_gnn.io.errors import (
    BranchTypeError,
    CorruptFileError,
    EmptyTreeError,
    MissingBranchError,
    MissingFileError,
    MissingTreeError,
    SchemaError,
    closest_names,
)
from e2e_gnn.io.schema import MASS2_TOLERANCE, Collection, Field, Schema, load_schema

__all__ = ["load_events", "open_tree", "read_events"]

PathLike = str | os.PathLike[str]


def open_tree(path: PathLike, tree: str) -> Any:
    """Open ``path`` and return its TTree ``tree``, or raise a named input error."""
    p = Path(path)
    if not p.is_file():
        siblings = [c.name for c in p.parent.iterdir()] if p.parent.is_dir() else []
        close = closest_names(p.name, siblings)
        hint = f"; similar files in {str(p.parent)!r}: {close}" if close else ""
        what = "is a directory, not a file" if p.is_dir() else "does not exist"
        msg = f"event file {str(p)!r} {what}{hint}"
        raise MissingFileError(msg, file_path=p)
    try:
        file = uproot.open(p)
    except Exception as err:  # uproot raises ValueError/OSError/struct.error on bad headers
        msg = (
            f"cannot open {str(p)!r} as a ROOT file ({type(err).__name__}: "
            f"{' '.join(str(err).split())}); "
            "is it truncated, still being written, or another format?"
        )
        raise CorruptFileError(
            msg,
            file_path=p,
        ) from err
    classes = file.classnames(cycle=False)
    trees = [k for k, c in classes.items() if c == "TTree"]
    if tree not in classes:
        raise MissingTreeError(tree, trees, file_path=p)
    if classes[tree] != "TTree":
        raise MissingTreeError(
            tree,
            trees,
            file_path=p,
            detail=f" (it is a {classes[tree]}; an RNTuple comes from uproot's "
            "`file[name] = data`, write a TTree with `file.mktree(name, data)`)",
        )
    try:
        return file[tree]
    except Exception as err:
        msg = (
            f"cannot read TTree {tree!r} of {str(p)!r} ({type(err).__name__}: "
            f"{' '.join(str(err).split())}); "
            "the file is probably truncated"
        )
        raise CorruptFileError(
            msg,
            file_path=p,
        ) from err


def _branch_kind(branch: Any) -> tuple[str, bool] | None:
    """(numpy kind, jagged?) of a branch, or None for strings, objects and fixed arrays."""
    try:
        interp = branch.interpretation
    except Exception:  # uproot.interpretation.identify.UnknownInterpretation
        return None
    jagged = isinstance(interp, uproot.interpretation.jagged.AsJagged)
    inner = interp.content if jagged else interp
    if not isinstance(inner, uproot.interpretation.numerical.AsDtype):
        return None
    dtype = np.dtype(inner.to_dtype)
    if dtype.shape != () or dtype.kind not in "biuf":
        return None
    return dtype.kind, jagged


def _check_branches(tree: Any, schema: Schema, path: PathLike) -> Schema:
    """Validate branch presence and types; return the schema without absent optional fields
    (and without collections left with no field)."""
    available = list(tree.keys())
    present = set(available)
    missing: dict[str, str] = {}
    wanted = [(f, False, f.name) for f in schema.scalars] + [
        (f, True, f"{c.name}.{f.name}{_derives(c, f.name)}")
        for c in schema.collections
        for f in c.fields
    ]
    for f, _, label in wanted:
        if f.branch not in present and not f.optional:
            missing[f.branch] = label
    if missing:
        raise MissingBranchError(missing, available, file_path=path, tree=schema.tree)
    for f, jagged, _label in wanted:
        if f.branch not in present:
            continue
        kind = _branch_kind(tree[f.branch])
        expected = f"{'a jagged list' if jagged else 'one value'} per event of {f.dtype}"
        if kind is None or kind[1] != jagged or not f.accepts(kind[0]):
            raise BranchTypeError(
                f.branch, tree[f.branch].typename, expected, file_path=path, tree=schema.tree
            )

    def keep(fields: tuple[Field, ...]) -> tuple[Field, ...]:
        return tuple(f for f in fields if f.branch in present)

    return Schema(
        schema.name,
        schema.tree,
        keep(schema.scalars),
        # a collection whose fields are all optional and all absent is left out
        tuple(
            Collection(c.name, keep(c.fields), c.derive)
            for c in schema.collections
            if keep(c.fields)
        ),
        schema.description,
    )


def _derives(collection: Collection, field: str) -> str:
    if field not in collection.sources():
        return ""
    return f", to derive {', '.join(collection.derive)}"


def _derive(chunk: ak.Array, c: Collection, path: PathLike, start: int) -> dict[str, ak.Array]:
    """The kinematic fields ``c.derive`` (formulas: :mod:`e2e_gnn.io.schema`)."""
    by_name = {f.name: f for f in c.fields}
    counts = ak.num(chunk[by_name["px"].branch])
    p = {
        name: ak.to_numpy(ak.flatten(ak.values_astype(chunk[by_name[name].branch], np.float64)))
        for name in c.sources()
    }
    pt = np.hypot(p["px"], p["py"])
    out: dict[str, np.ndarray] = {}
    if "pt" in c.derive:
        out["pt"] = pt
    if "eta" in c.derive:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["eta"] = np.where(p["pz"] == 0, 0.0, np.arcsinh(p["pz"] / pt))
    if "phi" in c.derive:
        phi = np.arctan2(p["py"], p["px"])
        out["phi"] = np.where(phi == -np.pi, np.pi, phi)
    if "mass" in c.derive:
        energy = p["energy"]
        m2 = energy**2 - (pt**2 + p["pz"] ** 2)
        bad = np.flatnonzero(m2 < -MASS2_TOLERANCE * energy**2)
        if bad.size:
            i = int(bad[0])
            entry = np.repeat(np.arange(len(counts)), ak.to_numpy(counts))[i]
            branches = [by_name[f].branch for f in ("px", "py", "pz", "energy")]
            msg = (
                f"collection {c.name!r} in {str(path)!r}: entry {start + int(entry)} has "
                f"E^2 - |p|^2 = {m2[i]:.6g} from branches {branches} (E = {energy[i]:.6g}), "
                f"below -{MASS2_TOLERANCE:g} E^2, so it has no mass; is 'energy' mapped to the "
                "energy branch? To skip the mass, derive only ['pt', 'eta', 'phi']"
            )
            raise SchemaError(msg, file_path=path)
        out["mass"] = np.sqrt(np.maximum(m2, 0.0))
    dtype = by_name["px"].dtype
    return {name: ak.unflatten(values.astype(dtype), counts) for name, values in out.items()}


def _to_records(chunk: ak.Array, schema: Schema, path: PathLike, start: int) -> ak.Array:
    out: dict[str, ak.Array] = {"entry": ak.Array(np.arange(start, start + len(chunk)))}
    for f in schema.scalars:
        out[f.name] = ak.values_astype(chunk[f.branch], f.dtype)
    for c in schema.collections:
        fields = {f.name: ak.values_astype(chunk[f.branch], f.dtype) for f in c.fields}
        counts = {c.fields[i].branch: ak.num(v) for i, v in enumerate(fields.values())}
        ref_branch, ref = next(iter(counts.items()))
        for branch, n in counts.items():
            bad = np.flatnonzero(ak.to_numpy(n != ref))
            if bad.size:
                i = int(bad[0])
                msg = (
                    f"collection {c.name!r} in {str(path)!r}: branches {ref_branch!r} and "
                    f"{branch!r} have different lengths in entry {start + i} "
                    f"({int(ref[i])} vs {int(n[i])}); a collection's fields must share a counter"
                )
                raise SchemaError(msg, file_path=path)
        if c.derive:
            fields.update(_derive(chunk, c, path, start))
        out[c.name] = ak.zip(fields)
    return ak.zip(out, depth_limit=1)


def read_events(
    path: PathLike | Sequence[PathLike],
    schema: str | os.PathLike[str] | Schema,
    *,
    tree: str | None = None,
    step_size: int | str = "100 MB",
    entry_start: int | None = None,
    entry_stop: int | None = None,
    collections: Sequence[str] | None = None,
    scalars: Sequence[str] | None = None,
) -> Iterator[ak.Array]:
    """Iterate over the events of one or more ROOT files in chunks.

    Args:
        path: a file or a list of files, read in order.
        schema: a Schema, a shipped schema name ("e2e_gnn", "nanoaod") or a TOML path.
        tree: TTree name (default: the schema's ``tree``).
        step_size: events per chunk (int) or memory per chunk ("100 MB"), as in uproot.
        entry_start, entry_stop: entry range within each file.
        collections, scalars: read only these (default: everything in the schema).

    Yields:
        awkward record arrays, one record per event, with ``entry`` (int64, the entry number
        in its file), the schema's scalar fields and one jagged record field per collection
        (``events.hits.energy``, derived kinematics included), cast to the declared dtypes,
        in file order. Every chunk holds at least one event.
    """
    sch = load_schema(schema).select(collections, scalars)
    if tree is not None:
        sch = Schema(sch.name, tree, sch.scalars, sch.collections, sch.description)
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    if not paths:
        msg = "read_events got an empty list of files; give at least one path"
        raise ValueError(msg)
    for p in paths:
        yield from _read_one(p, sch, step_size, entry_start, entry_stop)


def _read_one(
    path: PathLike,
    schema: Schema,
    step_size: int | str,
    entry_start: int | None,
    entry_stop: int | None,
) -> Iterator[ak.Array]:
    ttree = open_tree(path, schema.tree)
    if ttree.num_entries == 0:
        msg = f"TTree {schema.tree!r} in {str(path)!r} has no entries"
        raise EmptyTreeError(msg, file_path=path)
    start = 0 if entry_start is None else entry_start
    stop = ttree.num_entries if entry_stop is None else min(entry_stop, ttree.num_entries)
    if not 0 <= start < stop:
        msg = (
            f"entry range [{entry_start!r}, {entry_stop!r}) of TTree {schema.tree!r} in "
            f"{str(path)!r} selects no events; the tree has {ttree.num_entries} entries"
        )
        raise EmptyTreeError(
            msg,
            file_path=path,
        )
    sch = _check_branches(ttree, schema, path)
    branches = sorted(
        {f.branch for f in sch.scalars} | {f.branch for c in sch.collections for f in c.fields}
    )
    position = start
    try:
        for chunk in ttree.iterate(
            branches, step_size=step_size, entry_start=start, entry_stop=stop, library="ak"
        ):
            records = _to_records(chunk, sch, path, position)
            position += len(records)
            yield records
    except SchemaError:
        raise
    except Exception as err:  # decompression / deserialization of a damaged basket
        msg = (
            f"failed reading TTree {schema.tree!r} of {str(path)!r} after entry {position} "
            f"(branches {branches}): {type(err).__name__}: {err}; the file is probably "
            "truncated or corrupt"
        )
        raise CorruptFileError(
            msg,
            file_path=path,
        ) from err


def load_events(
    path: PathLike | Sequence[PathLike], schema: str | os.PathLike[str] | Schema, **kwargs: Any
) -> ak.Array:
    """All selected events of ``path`` in one awkward array (``read_events`` concatenated)."""
    return ak.concatenate(list(read_events(path, schema, **kwargs)))
