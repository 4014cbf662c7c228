"""Frames read in chunks for training: the entry-range reader of frame files, FrameChunks
against the frames held in memory, and the same model trained from a file larger than the
chunk as from memory, with the same seed and chunks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _train_frames import CHANNELS, toy_frames, write_toy_frames
from rich.console import Console

from e2e_gnn.io import ColumnWriter, frame_columns, read_frames, write_frames
from e2e_gnn.io.frame_files import frame_rows
from e2e_gnn.train.data import (
    FrameEdges,
    frame_graphs,
    read_frame_chunks,
    read_labelled_frames,
    split_by_event,
)
from e2e_gnn.train.run import train_on_frames
from e2e_gnn.train.settings import TrainSettings
from e2e_gnn.train.taggers import prepare
from e2e_gnn.train.trainer import InMemory, epoch_chunks, train

CHUNK = 16  # frames per read: the 120-frame files below span 8 chunks


@pytest.mark.parametrize("suffix", [".root", ".parquet"])
def test_rows_of_a_frames_file_read_by_range(tmp_path, suffix) -> None:
    frames, label, event = toy_frames(50)
    # written in three pieces, so a parquet range crosses row groups
    path = tmp_path / f"f{suffix}"
    with ColumnWriter(path) as writer:
        for part in (slice(0, 20), slice(20, 35), slice(35, 50)):
            writer.write(
                frame_columns(frames[part], CHANNELS, label=label[part], event=event[part])
            )
    for start, stop in ((0, 50), (5, 17), (18, 41), (49, 50)):
        got = read_frames(path, entry_start=start, entry_stop=stop)
        np.testing.assert_array_equal(got.frames.frames, frames[start:stop])
        np.testing.assert_array_equal(got.columns["event"], event[start:stop])
    picked = read_frames(path, channels=("tracks", "ECAL"), entry_start=3, entry_stop=9)
    np.testing.assert_array_equal(picked.frames.frames, frames[3:9][:, [2, 0]])
    columns, names = frame_rows(path)
    assert names == CHANNELS
    assert sorted(columns) == ["event", "label"]
    np.testing.assert_array_equal(columns["label"], label)


@pytest.fixture(scope="module")
def frames_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("chunked") / "frames.root"
    frames, label, event = toy_frames(120, seed=7)
    pt = np.linspace(20, 80, 120).astype(np.float32)
    return write_frames(path, frames, CHANNELS, label=label, event=event, pt=pt)


def test_frame_chunks_hold_what_memory_holds(frames_file) -> None:
    memory, skipped = read_labelled_frames([frames_file, frames_file])
    chunks, chunk_skipped = read_frame_chunks([frames_file, frames_file], CHUNK)
    assert skipped == chunk_skipped == 24
    np.testing.assert_array_equal(chunks.label, memory.label)
    np.testing.assert_array_equal(chunks.event, memory.event)
    assert set(chunks.ids) == set(memory.ids) == {"event", "file"}
    np.testing.assert_array_equal(chunks.columns["pt"], memory.columns["pt"])
    assert (chunks.frame_shape, chunks.channel_names) == (memory.frame_shape, CHANNELS)
    parts = chunks.chunks()
    assert len(parts) == 16  # 8 chunks of 16 rows per file
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(memory)))
    for items in parts:
        np.testing.assert_array_equal(chunks.read(items), memory.data[items])
    with pytest.raises(ValueError, match=r"one file at a time; items span files \[0, 1\]"):
        chunks.read(np.array([0, len(chunks) - 1]))
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        read_frame_chunks([frames_file], 0)


def test_graphs_built_chunk_by_chunk_equal_the_graphs_from_memory(frames_file) -> None:
    memory, _ = read_labelled_frames([frames_file])
    chunks, _ = read_frame_chunks([frames_file], CHUNK)
    edges = FrameEdges("knn", k=4)
    expected, got = frame_graphs(memory, edges), frame_graphs(chunks, edges)
    for name in ("x", "edge_index", "batch", "y"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)


def test_training_from_the_file_in_chunks_gives_the_in_memory_model(frames_file) -> None:
    settings = TrainSettings(epochs=2, batch_size=8, width=4, blocks=1, seed=3)
    memory, _ = read_labelled_frames([frames_file])
    chunks, _ = read_frame_chunks([frames_file], CHUNK)
    mem_train, mem_val = split_by_event(memory, 0.3, settings.seed)
    disk_train, disk_val = split_by_event(chunks, 0.3, settings.seed)
    assert len(disk_train.chunks()) > 1  # the training set is larger than a chunk
    from_memory = prepare("cnn", mem_train, mem_val, settings)
    from_disk = prepare("cnn", disk_train, disk_val, settings)
    # the input scale from all frames at once and combined chunk by chunk
    disk_scale = from_disk.model.channel_scale
    torch.testing.assert_close(disk_scale, from_memory.model.channel_scale, rtol=1e-6, atol=0)
    from_memory.model.channel_scale.copy_(disk_scale)
    # same chunks, same seed: the same data order, read from memory or from the file
    memory_history = train(
        from_memory.model,
        InMemory(from_memory.training, disk_train.chunks()),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        seed=settings.seed,
        validation=from_memory.validation,
    )
    disk_history = train(
        from_disk.model,
        from_disk.training,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        seed=settings.seed,
        validation=from_disk.validation,
    )
    assert disk_history.train_loss == memory_history.train_loss
    assert disk_history.validation_auc == memory_history.validation_auc
    np.testing.assert_array_equal(disk_history.validation_logits, memory_history.validation_logits)
    for (name, got), (_, want) in zip(
        from_disk.model.state_dict().items(), from_memory.model.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=0, atol=0, msg=name)


def test_one_chunk_keeps_the_plain_shuffle() -> None:
    """Items in memory are one chunk: the epoch order is rng.permutation(n), as before."""
    rng, reference = np.random.default_rng(5), np.random.default_rng(5)
    (order,) = epoch_chunks([np.arange(37)], rng)
    np.testing.assert_array_equal(order, reference.permutation(37))


def test_train_on_frames_in_chunks_of_a_parquet_file(tmp_path) -> None:
    path = write_toy_frames(tmp_path / "frames.parquet", num_frames=80)
    settings = TrainSettings(epochs=1, width=4, blocks=1, hidden=8, layers=1, knn=4)
    run = train_on_frames(
        [path], tmp_path / "run", ["edgeconv", "cnn"], settings, 0.3, Console(), chunk_size=8
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["chunk_size"] == 8
    for kind in ("edgeconv", "cnn"):
        assert run.models[kind].checkpoint.is_file()
        validation = metrics["models"][kind]["validation"]["frames"]
        assert len(run.models[kind].trained.scores) == validation
