"""The seed-000 taggers (3D CNN, ARMAConv GNN) and the seed-002 ResNet-15: the studies'
architectures, and exports whose parity cases (one image, graphs without edges, ...) hold."""

from __future__ import annotations

import numpy as np
import torch

from e2e_gnn.export import default_example, export_onnx
from e2e_gnn.nn.frame_scaling import channel_rms
from e2e_gnn.nn.models import ARMATagger, LayeredCNNTagger, ResNet15Tagger
from e2e_gnn.spec import FRAME_OUTPUTS, GraphSpec, ModelSpec, frame_inputs


def test_cnn3d_in_the_study_configuration_has_the_study_parameter_count() -> None:
    # the Keras summary of seed 000: 15 x 15 x 12 images, 60 maps, dense 100 -> 484,401
    model = LayeredCNNTagger(1, layers=12, width_channels=60, dense=100)
    assert sum(p.numel() for p in model.parameters()) == 484_401
    # its pooled maps: (7, 7, 12, 60) then (2, 2, 12, 60) -> 2880 inputs to the dense layer
    assert model.head[1].in_features == 2880


def test_resnet15_has_fifteen_convolution_layers() -> None:
    model = ResNet15Tagger(3)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert sum(1 for m in convs if m.kernel_size != (1, 1)) == 15
    assert model(torch.rand(2, 3, 125, 125)).shape == (2, 1)


def test_channel_rms_counts_only_hits() -> None:
    frames = torch.zeros(2, 2, 3, 4, 4)
    frames[0, 0, 0, 0, 0], frames[1, 0, 2, 3, 3] = 3.0, 4.0
    np.testing.assert_allclose(channel_rms(frames).numpy(), [np.sqrt(12.5), 1.0], rtol=1e-6)


def _trained_steps(model: torch.nn.Module, *inputs: torch.Tensor, count: int) -> None:
    """A few optimiser steps in training mode (BatchNorm statistics move)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    labels = (torch.arange(count) % 2).float()
    model.train()
    for _ in range(3):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(*inputs)[:, 0], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def test_cnn3d_with_batch_norm_exports_in_inference_mode(tmp_path) -> None:
    torch.manual_seed(0)
    model = LayeredCNNTagger(1, layers=4, width_channels=4, dense=8, batch_norm=True)
    _trained_steps(model, torch.rand(8, 1, 4, 15, 15), count=8)
    shape = [1, 4, 15, 15]
    spec = ModelSpec(
        "cnn3d",
        "LayeredCNNTagger",
        model.hyperparameters,
        inputs=frame_inputs(shape),
        outputs=FRAME_OUTPUTS,
        frame={"shape": shape, "channels": ["CALO"]},
    )
    report = export_onnx(model, spec, tmp_path / "m.onnx", default_example(spec))
    assert report.passed and report.max_abs_diff <= 1e-5
    assert {"one image", "many images, shuffled"} <= {row.case for row in report.rows}


def test_arma_exports_graphs_without_edges_and_single_nodes(tmp_path) -> None:
    torch.manual_seed(0)
    features = ("row", "col", "layer", "CALO")
    model = ARMATagger(len(features), hidden=8, stacks=2)
    x = torch.randn(30, 4)
    edge_index = torch.tensor([[0, 1, 2, 15, 16], [1, 2, 0, 16, 15]])
    batch = torch.arange(30) // 5
    _trained_steps(model, x, edge_index, batch, count=6)
    graph = GraphSpec(features, builder="threshold", k=None, coordinates=("row", "col"))
    spec = ModelSpec("arma", "ARMATagger", model.hyperparameters, graph=graph)
    example = default_example(spec)
    assert example.edge_index.shape[1] > 0  # threshold edges over (row, col), by layer
    report = export_onnx(model, spec, tmp_path / "m.onnx", example)
    assert report.passed and report.max_abs_diff <= 1e-5
    assert {"no edges", "single node", "many graphs, shuffled"} <= {r.case for r in report.rows}
