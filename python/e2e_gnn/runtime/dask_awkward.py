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
aligned with the objects). One class gives a float per row, K classes a list of K.
Imports neither torch nor, until a dask-awkward array is given, dask.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import awkward as ak
import numpy as np

from e2e_gnn.graphs.from_frames import graphs_from_spec
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
        classes: the model's output columns (the static size of its output's last axis).
    """

    def __init__(
        self, settings: InferSettings, spec: ModelSpec, fields: Sequence[str], classes: int
    ) -> None:
        if spec.graph is None or not spec.is_graph_model:
            msg = f"{spec.name!r} is not a graph model: tag_objects needs one"
            raise ValueError(msg)
        self.settings = settings
        self.spec = spec
        self.fields = tuple(fields)
        self.classes = classes
        self.per_node = spec.outputs[0].shape[:1] == ("nodes",)

    def __call__(self, objects: ak.Array) -> ak.Array:
        if ak.backend(objects) == "typetracer":  # dask-awkward asking what is read and made
            for name in self.fields:
                ak.typetracer.touch_data(objects[name])
            empty = self._column(np.zeros((0, self.classes), np.float32), np.zeros(0, np.int64))
            return ak.Array(empty.layout.to_typetracer(forget_length=True))
        counts = ak.to_numpy(ak.num(objects, axis=1)).astype(np.int64)
        x = np.stack(
            [ak.to_numpy(ak.flatten(objects[name], axis=1)) for name in self.fields], axis=1
        ).astype(np.float32)
        filled = counts[counts > 0]
        if len(filled) == 0:
            return self._column(np.zeros((0, self.classes), np.float32), counts)
        assert self.spec.graph is not None
        ptr = np.concatenate([[0], np.cumsum(filled)])
        graphs = graphs_from_spec(x, ptr, self.spec.graph)
        tagger = cached_tagger(self.settings)
        return self._column(tagger.score(graphs, self.settings.per_call), counts)

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
        features: per feature name of the spec, the field of ``objects`` holding it (default:
            the field of the same name).
        backend, threads, options: as for :class:`~e2e_gnn.runtime.tagger.Tagger`.

    Returns an array of the kind of ``objects`` (see the module docstring for its layout).
    Raises ValueError naming a missing field or a model that is not a graph model.
    """
    from e2e_gnn.model_file import ModelFile

    model_file = ModelFile.read(model, verify_checksum=verify_checksum)
    spec, classes = model_file.spec, model_file.outputs[0].shape[-1]
    if spec.graph is None:
        msg = f"{str(model)!r} is not a graph model: tag_objects needs one"
        raise ValueError(msg)
    if not isinstance(classes, int):
        msg = f"{str(model)!r} has no static number of output classes: its output is {classes!r}"
        raise ValueError(msg)
    names = dict(features or {})
    fields = [names.get(f, f) for f in spec.graph.feature_names]
    have = objects.fields
    missing = [f for f in fields if f not in have]
    if missing:
        msg = (
            f"the objects have no field(s) {missing} that the model {spec.name!r} needs as node "
            f"features {list(spec.graph.feature_names)}; they have {have} (map names with "
            f"features={{feature: field}})"
        )
        raise ValueError(msg)
    settings = InferSettings(
        os.fspath(os.path.abspath(model)),
        backend,
        threads,
        per_call,
        verify_checksum,
        tuple(sorted(options.items())),
    )
    tagger = ObjectTagger(settings, spec, fields, classes)
    if isinstance(objects, ak.Array):
        return tagger(objects)
    import dask_awkward as dak

    return dak.map_partitions(tagger, objects, label="e2e-gnn-tag-objects")
