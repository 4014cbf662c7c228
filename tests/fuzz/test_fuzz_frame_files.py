"""Fuzz the frames-file reader (``e2e_gnn.io.read_frames``) with malformed ROOT and parquet
files: integer or bool pixels, jagged or flat frame columns, channel columns of different
shapes, missing channels, empty trees, truncation. The property: a clear error naming the
file and the column, or exactly the frames of the valid equivalent file."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from _cases import fresh_dir, truncate
from _fuzz import Worker, assert_clear_error
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e_gnn.io.columns import write_columns

CHANNELS = ("ecal", "hcal", "tracks")
SAME = ("valid", "float64", "reordered_channels", "label", "layered")
BAD = (
    "int_pixels",
    "bool_pixels",
    "jagged",
    "flat",
    "missing_channel",
    "no_frames",
    "empty_tree",
    "shape_mismatch",
    "truncated",
    "none_pixel",
)


@pytest.mark.parametrize("fmt", [".root", ".parquet"])
@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)),
    mutation=st.sampled_from(SAME + BAD),
    data=st.data(),
)
def test_frame_files(
    worker: Worker, fuzz_counts, tmp_path_factory, fmt: str, seed: int, shape, mutation, data
) -> None:
    fuzz_counts[f"read_frames {fmt}"] += 1
    path = fresh_dir(tmp_path_factory.getbasetemp()) / f"frames{fmt}"
    rng = np.random.default_rng(seed)
    if mutation == "layered":
        shape = (*shape[:2], 2, *shape[2:])
    frames = rng.normal(size=shape).astype(np.float32)
    names = CHANNELS[: shape[1]]
    channel = data.draw(st.integers(0, shape[1] - 1))
    column = f"frame_{names[channel]}"
    cols: dict = {f"frame_{n}": frames[:, i] for i, n in enumerate(names)}
    cols["event"] = np.arange(shape[0], dtype=np.int64)
    kwargs: dict = {}
    expected_names = names
    expected = frames
    mentions: tuple[str, ...] = (column,)
    if mutation == "float64":
        cols = {k: v.astype(np.float64) if k.startswith("frame_") else v for k, v in cols.items()}
    elif mutation == "reordered_channels":
        expected_names = tuple(data.draw(st.permutations(names)))
        kwargs["channels"] = list(expected_names)
        expected = frames[:, [names.index(n) for n in expected_names]]
    elif mutation == "label":
        cols["label"] = np.arange(shape[0]) % 2
        if fmt == ".parquet" and data.draw(st.booleans()):  # a missing label reads as NaN
            cols["label"] = ak.Array([None, *cols["label"][1:].tolist()])
    elif mutation in ("int_pixels", "bool_pixels"):
        cols[column] = cols[column].astype(np.int32 if mutation == "int_pixels" else np.bool_)
    elif mutation == "jagged":
        flat = cols[column].reshape(shape[0], -1)
        counts = np.full(shape[0], flat.shape[1])
        counts[data.draw(st.integers(0, shape[0] - 1))] -= 1
        cols[column] = ak.unflatten(
            np.concatenate([r[:c] for r, c in zip(flat, counts, strict=True)]), counts
        )
    elif mutation == "flat":
        cols[column] = cols[column].reshape(shape[0], -1)[:, 0].copy()
    elif mutation == "missing_channel":
        del cols[column]
        kwargs["channels"] = list(names)
        mentions = (names[channel], "no frame columns")
    elif mutation == "no_frames":
        cols = {"event": cols["event"]}
        mentions = ("frame_",)
    elif mutation == "empty_tree":
        cols = {k: v[:0] for k, v in cols.items()}
        mentions = ("no frames",)
    elif mutation == "shape_mismatch":
        cols[column] = np.concatenate([cols[column], cols[column][:, :1]], axis=1)
        if shape[1] == 1:
            cols["frame_extra"] = frames[:, 0]
    elif mutation == "none_pixel":  # parquet from other tools: None
        if fmt == ".root":
            return
        images = cols[column].tolist()
        frame = data.draw(st.integers(0, shape[0] - 1))
        if data.draw(st.booleans()):
            images[frame] = None
        else:
            images[frame][0][0] = None
        cols[column] = ak.Array(images)
    write_columns(path, cols)
    if mutation == "truncated":
        truncate(path, data.draw(st.floats(0.0, 0.98)))
    reply = worker.call("read_frames", str(path), **kwargs)
    if mutation in SAME or (mutation == "truncated" and reply.ok):
        assert reply.ok, reply
        np.testing.assert_array_equal(reply.value.frames.frames, expected)
        assert reply.value.frames.frames.dtype == np.float32
        assert reply.value.channel_names == expected_names
        np.testing.assert_array_equal(reply.value.columns["event"], np.arange(shape[0]))
        if mutation == "label":
            labels = ak.to_numpy(ak.fill_none(ak.Array(cols["label"]), np.nan))
            assert not isinstance(reply.value.frames.y, np.ma.MaskedArray)
            np.testing.assert_array_equal(reply.value.frames.y, labels)
    else:
        assert_clear_error(reply, *(mentions if mutation != "truncated" else (str(path),)))
        assert str(path) in reply.message, reply
