"""Every model refuses a size below 1 with one error naming the model and the argument
(torch would build empty layers from a 0 and the model would give constant scores), and
takes numpy integers such as a shape read from a file."""

from __future__ import annotations

import numpy as np
import pytest

from e2e_gnn.nn.calibration import CalibrationGNN
from e2e_gnn.nn.jetpointnet import JetPointNet
from e2e_gnn.nn.models import MODELS

VALID = {
    "EdgeConvTagger": {"in_features": 4},
    "FrameCNNTagger": {"in_channels": 3},
    "ARMATagger": {"in_features": 4},
    "LayeredCNNTagger": {"in_channels": 3, "layers": 4},
    "ResNet15Tagger": {"in_channels": 3},
}
WRONG = [
    ("EdgeConvTagger", "num_layers", 0),
    ("EdgeConvTagger", "hidden", -8),
    ("EdgeConvTagger", "in_features", 2.5),
    ("FrameCNNTagger", "num_blocks", 0),
    ("ARMATagger", "stacks", 0),
    ("LayeredCNNTagger", "dense", 0),
    ("ResNet15Tagger", "blocks", 0),
    ("ResNet15Tagger", "num_classes", 0),
]


def test_every_registered_model_is_covered() -> None:
    assert set(VALID) == set(MODELS)


@pytest.mark.parametrize(("model", "name", "size"), WRONG)
def test_size_below_one_is_refused(model: str, name: str, size: object) -> None:
    with pytest.raises(ValueError, match=rf"^{model}: `{name}` must be an integer >= 1, got "):
        MODELS[model](**{**VALID[model], name: size})


def test_node_models_refuse_a_zero_size() -> None:
    with pytest.raises(ValueError, match=r"^JetPointNet: `width` must be an integer >= 1"):
        JetPointNet(in_features=5, energy_index=0, width=0)
    with pytest.raises(ValueError, match=r"^CalibrationGNN: `num_layers` must be an integer"):
        CalibrationGNN(in_features=5, graph_features=2, num_layers=0)


def test_numpy_integer_sizes_are_sizes() -> None:
    model = MODELS["EdgeConvTagger"](in_features=np.int64(4), hidden=np.int32(8), num_layers=1)
    assert len(model.convs) == 1
