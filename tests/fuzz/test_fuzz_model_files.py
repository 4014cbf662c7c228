"""Fuzz the model-file readers: ModelFile.read and ModelSpec (Python), the C++ Tagger
(``e2e_gnn._native``) and both Tagger backends, with malformed ``e2e_gnn.spec`` metadata
(missing keys, values of the wrong JSON type, other formats and versions, not JSON) and
with bytes flipped anywhere in the file or in the weights.

The property: Python and C++ make the same decision; a refusal is a clear error naming the
model; an accepted file scores a valid batch exactly as the original model does (or refuses
the batch clearly), so no change of the weights gets through the checksum."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _cases import fresh_dir
from _fuzz import Worker, assert_clear_error
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e_gnn.spec import SPEC_KEY, VERSION_KEY, GraphSpec, ModelSpec, TensorSpec

onnx = pytest.importorskip("onnx")

JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 40),
    st.floats(-2, 40, allow_nan=False),
    st.text(max_size=4),
    st.lists(st.one_of(st.integers(-1, 3), st.text(max_size=2)), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(0, 2), max_size=2),
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of the spec JSON, not descending into free-form dictionaries."""
    found = [prefix] if prefix else []
    if isinstance(value, dict) and prefix[-1:] not in (("hyperparameters",), ("provenance",)):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list) and prefix[-1:] in (("inputs",), ("outputs",), ("shape",)):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


def _set(data: Any, path: tuple, value: Any, delete: bool = False) -> None:
    for key in path[:-1]:
        data = data[key]
    if delete:
        del data[path[-1]]
    else:
        data[path[-1]] = value


@pytest.fixture(scope="module")
def model(tagger_export, worker: Worker, make_graphs):
    """(the model's ModelProto, a valid batch, its scores from the untouched file)."""
    _, spec, path = tagger_export
    batch = make_graphs([3, 9, 1, 12], spec.num_features, seed=3)
    reply = worker.call("tagger_call", str(path), "onnxruntime", "__call__", batch)
    assert reply.ok, reply
    return onnx.load(str(path)), batch, reply.value


def _well_typed(spec: ModelSpec) -> None:
    assert isinstance(spec.name, str) and isinstance(spec.model_class, str)
    assert isinstance(spec.hyperparameters, dict)
    for tensor in (*spec.inputs, *spec.outputs):
        assert isinstance(tensor, TensorSpec)
        assert isinstance(tensor.name, str) and isinstance(tensor.dtype, str)
        assert all(isinstance(d, str | int) and not isinstance(d, bool) for d in tensor.shape)
    if spec.graph is not None:
        graph = spec.graph
        assert isinstance(graph, GraphSpec)
        assert all(isinstance(f, str) for f in graph.feature_names)
        assert graph.k is None or (isinstance(graph.k, int) and not isinstance(graph.k, bool))
        assert isinstance(graph.loop, bool) and isinstance(graph.fixed_degree, bool)
        assert all(isinstance(c, str) for c in graph.coordinates)
    assert isinstance(spec.thread_safe, bool)


def _check_loaded(worker: Worker, path: Path, model: tuple) -> None:
    """Python and C++ agree on ``path``; when they accept it, both backends score the valid
    batch as the original (or refuse the batch with a clear error)."""
    _, batch, scores = model
    reader = worker.call("model_file", str(path))
    python = worker.call("tagger_new", str(path), "onnxruntime")
    native = worker.call("native_tagger", str(path))
    # the Python Tagger loads what the C++ Tagger loads: its rules are the C++ ones
    assert python.ok == native.ok, f"Python {python!r}, C++ {native!r}"
    assert reader.ok or not python.ok, (reader, python)
    for reply in (reader, python, native):
        if not reply.ok:
            assert_clear_error(reply, str(path))
    if not python.ok:
        return
    _well_typed(python.value)
    for backend in ("onnxruntime", "native"):
        reply = worker.call("tagger_call", str(path), backend, "__call__", batch)
        if reply.ok:
            np.testing.assert_allclose(reply.value, scores, rtol=0, atol=1e-6)
        else:
            assert_clear_error(reply, "'x'", "'edge_index'", "'batch'", "input", str(path))


SPEC_MUTATIONS = (
    "drop",
    "retype",
    "format",
    "version",
    "not_json",
    "not_object",
    "no_spec",
    "extra_key",
)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(mutation=st.sampled_from(SPEC_MUTATIONS), data=st.data())
def test_spec_metadata(worker: Worker, fuzz_counts, tmp_path_factory, model, mutation, data):
    fuzz_counts["model metadata (ModelFile.read, C++ Tagger, both backends)"] += 1
    proto = onnx.ModelProto()
    proto.CopyFrom(model[0])
    metadata = {p.key: p.value for p in proto.metadata_props}
    spec = json.loads(metadata[SPEC_KEY])
    paths = _paths(spec)
    if mutation == "drop":
        _set(spec, data.draw(st.sampled_from([("graph",), *paths])), None, delete=True)
    elif mutation == "retype":
        _set(spec, data.draw(st.sampled_from(paths)), data.draw(JSON_VALUES))
    elif mutation == "format":
        spec["format"] = data.draw(st.integers(-5, 5).filter(lambda f: f != 1))
    elif mutation == "extra_key":
        spec[data.draw(st.sampled_from(["zzz", "extra", "Format"]))] = data.draw(JSON_VALUES)
    text = json.dumps(spec)
    if mutation == "version":
        metadata[VERSION_KEY] = data.draw(
            st.sampled_from(["", "0.1.0", "2.0.0", "x", "1", "-1.0", "99999999999999999999.0"])
        )
    elif mutation == "not_json":
        cut = data.draw(st.integers(0, len(text) - 1))
        text = text[:cut] + data.draw(st.sampled_from(["", "}", "\x00", "{", "]"]))
    elif mutation == "not_object":
        text = json.dumps(data.draw(st.one_of(st.lists(st.integers(), max_size=2), st.text())))
    if mutation == "no_spec":
        del metadata[SPEC_KEY]
    else:
        metadata[SPEC_KEY] = text
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    path = fresh_dir(tmp_path_factory.getbasetemp()) / "model.onnx"
    onnx.save(proto, str(path))
    _check_loaded(worker, path, model)
    # the JSON reader is the same rule as the metadata reader
    if mutation != "no_spec":
        by_json = worker.call("spec_from_json", text)
        by_metadata = worker.call("spec_from_metadata", metadata)
        if by_metadata.ok:
            assert by_json.ok and by_json.value == by_metadata.value, (by_json, by_metadata)
        if by_json.ok:
            _well_typed(by_json.value)
        else:
            assert_clear_error(by_json, "fuzzed spec")


@settings(max_examples=100, deadline=None, derandomize=True)
@given(target=st.sampled_from(["anywhere", "weights", "cut"]), data=st.data())
def test_flipped_bytes(worker: Worker, fuzz_counts, tmp_path_factory, model, target, data):
    fuzz_counts["model bytes flipped or cut (checksum)"] += 1
    proto = model[0]
    raw = bytearray(proto.SerializeToString())
    if target == "weights":
        # weights whose bytes occur once in the file, so that they are found for sure
        tensors = [t for t in proto.graph.initializer if bytes(raw).count(t.raw_data) == 1]
        tensor = tensors[data.draw(st.integers(0, len(tensors) - 1))]
        start = bytes(raw).find(tensor.raw_data)
        at = start + data.draw(st.integers(0, len(tensor.raw_data) - 1))
    else:
        at = data.draw(st.integers(0, len(raw) - 1))
    if target == "cut":
        raw = raw[:at]
    else:
        raw[at] ^= data.draw(st.integers(1, 255))
    path = fresh_dir(tmp_path_factory.getbasetemp()) / "model.onnx"
    path.write_bytes(bytes(raw))
    if target == "weights":
        for name in ("model_file", "native_tagger"):
            reply = worker.call(name, str(path))
            assert_clear_error(reply, str(path))
            assert "changed after export" in reply.message, reply
    _check_loaded(worker, path, model)


def _with_spec(tmp_path: Path, proto: Any, edit: Any) -> Path:
    """A copy of the model whose e2e_gnn.spec JSON went through ``edit``."""
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    for entry in copy.metadata_props:
        if entry.key == SPEC_KEY:
            spec = json.loads(entry.value)
            edit(spec)
            entry.value = json.dumps(spec)
    path = fresh_dir(tmp_path) / "model.onnx"  # the worker keeps Taggers by path
    onnx.save(copy, str(path))
    return path


def test_spec_without_outputs_scores_by_the_cpp_rule(worker: Worker, model, tmp_path) -> None:
    # found by test_spec_metadata: "outputs": [] raised IndexError in Tagger._run; the C++
    # Tagger then reads the output "scores", and so does the Python Tagger now
    path = _with_spec(tmp_path, model[0], lambda spec: spec.update(outputs=[]))
    for backend in ("onnxruntime", "native"):
        reply = worker.call("tagger_call", str(path), backend, "__call__", model[1])
        assert reply.ok, reply
        np.testing.assert_allclose(reply.value, model[2], rtol=0, atol=1e-6)
    renamed = _with_spec(tmp_path, model[0], lambda spec: spec["outputs"][0].update(name="logits"))
    reply = worker.call("tagger_call", str(renamed), "onnxruntime", "__call__", model[1])
    assert_clear_error(reply, "no output 'logits'")


def test_graph_model_without_graph_spec_is_refused_like_cpp(worker: Worker, model, tmp_path):
    # found by test_spec_metadata: the Python Tagger took such a model for a frame model
    path = _with_spec(tmp_path, model[0], lambda spec: spec.pop("graph"))
    for reply in (
        worker.call("tagger_new", str(path), "onnxruntime"),
        worker.call("native_tagger", str(path)),
    ):
        assert_clear_error(reply, "has neither a graph spec nor one float32 input 'frames'")


def test_frame_spec_without_shape() -> None:
    # the C++ reader accepts a frame entry without "shape"; frame_shape raised KeyError
    spec = ModelSpec("m", "C", {}, frame={"channels": ["a"]})
    assert spec.frame_shape is None
    assert not spec.is_graph_model
