from __future__ import annotations

import pytest
import torch

from e2e_gnn.export import UnsupportedOperationError, default_example, export_onnx
from e2e_gnn.export.lint import find_unsupported_operations
from e2e_gnn.graphs.synthetic import TOY_GRAPH_SPEC
from e2e_gnn.nn.models import EdgeConvTagger
from e2e_gnn.spec import ModelSpec


class IndexAddConv(torch.nn.Module):
    def forward(self, x, edge_index):
        return torch.zeros_like(x).index_add_(0, edge_index[1], x[edge_index[0]])


class ScatterMeanConv(torch.nn.Module):
    def forward(self, x, edge_index):
        index = edge_index[1, :, None].expand(-1, x.size(1))
        return torch.zeros_like(x).scatter_reduce(0, index, x[edge_index[0]], reduce="mean")


class ClampIfPositive(torch.nn.Module):
    def forward(self, x, edge_index):
        if x.sum() > 0:  # data-dependent Python control flow
            return x.clamp(min=0)
        return x


class Model(torch.nn.Module):
    def __init__(self, conv: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = torch.nn.ModuleDict({"conv": conv})
        self.head = torch.nn.Linear(4, 1)

    def forward(self, x, edge_index, batch):
        return self.head(self.encoder["conv"](x, edge_index))


SPEC = ModelSpec("m", "Model", {}, graph=TOY_GRAPH_SPEC)


@pytest.mark.parametrize(
    ("conv", "operation", "advice"),
    [
        (IndexAddConv(), "index_add_", "reduce='sum'"),
        (ScatterMeanConv(), "scatter_reduce", "reduce='mean'"),
        (ClampIfPositive(), "__bool__", "torch.where"),
    ],
)
def test_export_names_the_layer_and_the_fix(conv, operation, advice, tmp_path) -> None:
    with pytest.raises(UnsupportedOperationError) as info:
        export_onnx(Model(conv), SPEC, tmp_path / "m.onnx", default_example(SPEC))
    message = str(info.value)
    assert f"layer 'model.encoder.conv' calls {operation}" in message
    assert advice in message
    assert not (tmp_path / "m.onnx").exists()


def test_e2e_gnn_layers_pass_the_checker() -> None:
    example = default_example(SPEC)
    inputs = tuple(torch.from_numpy(a) for a in example.inputs().values())
    assert find_unsupported_operations(EdgeConvTagger(4), inputs) == []
