"""A model's scores as a column of a (dask-)awkward array: e2e_gnn inside a coffea analysis.

:func:`tag_objects` takes the objects of each event (``events.Jet`` of NanoEvents, or any
jagged record array with a field per node feature), makes one graph per event from them as
the model's graph spec says (the native builder of :func:`~e2e_gnn.graphs.graphs_from_spec`,
the one every path uses) and scores it. On a dask-awkward array nothing runs until the
result is computed: each partition is scored on its worker by the native runtime, the model
loaded once per worker process and reused. Only the feature fields are read from the files
(dask-awkward's column projection sees what the function touches).

The result is aligned with the events: per-graph outputs give one value per event (``None``
for an event without objects), per-node outputs one value per object (a jagged column
aligned with the objects: ``column[e][j]`` belongs to ``objects[e][j]``). One class gives a
float per row, K classes a list of K. A model whose graph spec names graph features takes
them per event from a record array (``graph_features=``). Imports neither torch nor, until
a dask-awkward array is given, dask.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import awkward as ak
import numpy as np

from e2e_gnn.graphs.from_frames import graphs_from_spec
from e2e_gnn.ragged import Ragged
from e2e_gnn.runtime.many_files import InferSettings, cached_tagger
from e2e_gnn.spec import ModelSpec

__all__ = ["ObjectTagger", "tag_objects"]


class ObjectTagger:
    """Scores the objects of each event of an awkward array partition (picklable, so dask
    ships it to the workers; the Tagger itself is created there, once per process).

    Args:
        settings: the model and backend (see :class:`~e2e_gnn.runtime.many_files.InferSettings`).
        spec: the model's spec (a graph model).
        fields: per node feature of the spec, in its order, the field of the objects that
            holds it.
        output: the model output returned (one of ``spec.outputs``).
        classes: its columns (the static size of its last axis).
        graph_fields: per graph feature of the spec, in its order, the field of the
            per-event records that holds it (empty: the model takes no graph features).
    """

    def __init__(
        self,
        settings: InferSettings,
        spec: ModelSpec,
        fields: Sequence[str],
        output: str,
        classes: int,
        graph_fields: Sequence[str] = (),
    ) -> None:
        if spec.graph is None or not spec.is_graph_model:
            msg = f"{spec.name!r} is not a graph model: tag_objects needs one"
            raise ValueError(msg)
        self.settings = settings
        self.spec = spec
        self.fields = tuple(fields)
        self.output = output
        self.classes = classes
        self.graph_fields = tuple(graph_fields)
        self.per_node = next(t for t in spec.outputs if t.name == output).per_node

    def __call__(self, objects: ak.Array, graph_records: ak.Array | None = None) -> ak.Array:
        if ak.backend(objects) == "typetracer":  # dask-awkward asking what is read and made
            for name in self.fields:
                ak.typetracer.touch_data(objects[name])
            for name in self.graph_fields:
                assert graph_records is not None
                ak.typetracer.touch_data(graph_records[name])
            empty = self._column(np.zeros((0, self.classes), np.float32), np.zeros(0, np.int64))
            return ak.Array(empty.layout.to_typetracer(forget_length=True))
        counts = ak.to_numpy(ak.num(objects, axis=1)).astype(np.int64)
        x = np.stack(
            [ak.to_numpy(ak.flatten(objects[name], axis=1)) for name in self.fields], axis=1
        ).astype(np.float32)
        has = counts > 0
        if not has.any():
            return self._column(np.zeros((0, self.classes), np.float32), counts)
        u = None
        if self.graph_fields:
            assert graph_records is not None
            u = np.stack(
                [ak.to_numpy(graph_records[name]) for name in self.graph_fields], axis=1
            ).astype(np.float32)[has]
        assert self.spec.graph is not None
        ptr = np.concatenate([[0], np.cumsum(counts[has])])
        graphs = graphs_from_spec(x, ptr, self.spec.graph, u=u)
        values = cached_tagger(self.settings).outputs(graphs, self.settings.per_call)[self.output]
        return self._column(values.values if isinstance(values, Ragged) else values, counts)

    def _column(self, scores: np.ndarray, counts: np.ndarray) -> ak.Array:
        """Scores [G or N, classes] as a column aligned with events of ``counts`` objects."""
        if self.per_node:
            values = scores
        else:  # events without objects have no graph: their row is masked
            has = counts > 0
            values = np.zeros((len(counts), self.classes), np.float32)
            values[has] = scores
        column = ak.Array(values[:, 0] if self.classes == 1 else values)
        return ak.unflatten(column, counts) if self.per_node else ak.mask(column, has)


def tag_objects(
    objects: Any,
    model: str | os.PathLike[str],
    *,
    features: Mapping[str, str] | None = None,
    graph_features: Any = None,
    output: str | None = None,
    backend: str = "native",
    threads: int = 1,
    per_call: int = 1024,
    verify_checksum: bool = True,
    **options: Any,
) -> Any:
    """The model's outputs for the objects of each event, as a column aligned with them.

    Args:
        objects: jagged records [events, objects] (``events.Jet``): an ``ak.Array`` (scored
            now) or a ``dask_awkward.Array`` (scored lazily, partition by partition, on the
            workers).
        model: an exported graph model; its spec's ``feature_names`` name the node features.
        features: per feature name of the spec (node or graph feature), the field holding
            it (default: the field of the same name).
        graph_features: for a model whose graph spec names graph features: records with one
            entry per event (an array of the kind and partitioning of ``objects``, e.g.
            ``ak.zip({"rho": events.fixedGridRhoFastjetAll, ...})``), a field per feature.
        output: the name of the model output to return (default: the spec's first).
        backend, threads, options: as for :class:`~e2e_gnn.runtime.tagger.Tagger`.

    Returns an array of the kind of ``objects`` (see the module docstring for its layout).
    Raises ValueError naming a missing field or output, missing or unexpected graph
    features, or a model that is not a graph model.
    """
    from e2e_gnn.model_file import ModelFile

    model_file = ModelFile.read(model, verify_checksum=verify_checksum)
    spec = model_file.spec
    if spec.graph is None:
        msg = f"{str(model)!r} is not a graph model: tag_objects needs one"
        raise ValueError(msg)
    found = {t.name: t for t in model_file.outputs}
    output = spec.outputs[0].name if output is None else output
    if output not in found:
        msg = f"{str(model)!r} has no output {output!r}; it has {list(found)}"
        raise ValueError(msg)
    classes = found[output].shape[-1]
    if not isinstance(classes, int):
        msg = f"{str(model)!r} has no static number of output classes: {output!r} is {classes!r}"
        raise ValueError(msg)
    names = dict(features or {})
    fields = _fields(
        objects,
        [names.get(f, f) for f in spec.graph.feature_names],
        "objects",
        spec.graph.feature_names,
        spec.name,
        "node",
    )
    wanted = spec.graph.graph_feature_names
    if bool(wanted) != (graph_features is not None):
        msg = (
            f"the model {spec.name!r} takes graph features {list(wanted)}: give them with "
            f"graph_features=records per event"
            if wanted
            else f"the model {spec.name!r} takes no graph features, but graph_features was given"
        )
        raise ValueError(msg)
    graph_fields = (
        _fields(
            graph_features,
            [names.get(f, f) for f in wanted],
            "graph_features",
            wanted,
            spec.name,
            "graph",
        )
        if wanted
        else []
    )
    settings = InferSettings(
        os.fspath(os.path.abspath(model)),
        backend,
        threads,
        per_call,
        verify_checksum,
        tuple(sorted(options.items())),
    )
    tagger = ObjectTagger(settings, spec, fields, output, classes, graph_fields)
    arrays = (objects,) if graph_features is None else (objects, graph_features)
    if isinstance(objects, ak.Array):
        return tagger(*arrays)
    import dask_awkward as dak

    return dak.map_partitions(tagger, *arrays, label="e2e-gnn-tag-objects")


def _fields(
    records: Any, fields: list[str], what: str, wanted: Sequence[str], model: str, level: str
) -> list[str]:
    """``fields`` if ``records`` has them all, else ValueError naming the missing ones."""
    have = records.fields
    missing = [f for f in fields if f not in have]
    if missing:
        msg = (
            f"the {what} have no field(s) {missing} that the model {model!r} needs as {level} "
            f"features {list(wanted)}; they have {have} (map names with "
            f"features={{feature: field}})"
        )
        raise ValueError(msg)
    return fields
