"""Checkpoints of graph and frame models (and of graph models saved before frame models
were supported), and the CNN's input scaling."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.nn.models import EdgeConvTagger, FrameCNNTagger
from e2e_gnn.spec import FRAME_INPUTS, GRAPH_INPUTS
from e2e_gnn.train.checkpoint import load_checkpoint, save_checkpoint

FRAME = {"shape": [2, 8, 8], "channels": ["ECAL", "HCAL"]}


def test_graph_checkpoint_without_frame_entry_still_loads(tmp_path) -> None:
    """The layout save_checkpoint wrote before it took frame specs."""
    model = EdgeConvTagger(len(TOY_GRAPH_SPEC.feature_names), hidden=8, num_layers=1)
    torch.save(
        {
            "model_class": "EdgeConvTagger",
            "hyperparameters": model.hyperparameters,
            "state_dict": model.state_dict(),
            "graph": asdict(TOY_GRAPH_SPEC),
            "provenance": {"data": "old"},
        },
        tmp_path / "old.pt",
    )
    loaded, spec = load_checkpoint(tmp_path / "old.pt")
    assert spec.graph == TOY_GRAPH_SPEC and spec.frame is None
    assert spec.inputs == GRAPH_INPUTS
    assert isinstance(loaded, EdgeConvTagger)


def test_frame_checkpoint_round_trip(tmp_path) -> None:
    model = FrameCNNTagger(2, width=4, num_blocks=1)
    model.set_channel_scaling(torch.rand(3, 2, 8, 8))
    save_checkpoint(tmp_path / "cnn.pt", model, "FrameCNNTagger", None, {}, frame=FRAME)
    loaded, spec = load_checkpoint(tmp_path / "cnn.pt", "cnn")
    assert spec.frame == FRAME and spec.frame_shape == (2, 8, 8) and spec.graph is None
    assert spec.inputs == FRAME_INPUTS
    assert torch.equal(loaded.channel_scale, model.channel_scale)


def test_checkpoint_needs_exactly_one_input_spec(tmp_path) -> None:
    model = FrameCNNTagger(2, width=4, num_blocks=1)
    with pytest.raises(ValueError, match="either a graph spec"):
        save_checkpoint(tmp_path / "m.pt", model, "FrameCNNTagger", None, {})
    with pytest.raises(ValueError, match="either a graph spec"):
        save_checkpoint(tmp_path / "m.pt", model, "FrameCNNTagger", TOY_GRAPH_SPEC, {}, frame=FRAME)


def test_cnn_scaling_makes_the_channel_unit_irrelevant() -> None:
    """Frames in MeV instead of GeV give the same scores once the scaling is set from them;
    an empty channel keeps scale 1."""
    frames = torch.rand(6, 3, 8, 8) * (torch.rand(6, 3, 8, 8) > 0.7)
    frames[:, 2] = 0
    in_mev = frames * torch.tensor([1000.0, 1.0, 1.0])[None, :, None, None]
    torch.manual_seed(0)
    model = FrameCNNTagger(3, width=4, num_blocks=1).eval()
    model.set_channel_scaling(frames)
    assert model.channel_scale[2] == 1.0
    expected = model(frames)
    model.set_channel_scaling(in_mev)
    torch.testing.assert_close(model(in_mev), expected)
