"""Export recipes: one small TOML file per deployable model, kept in the repository.

A recipe names the checkpoint, where the ONNX file goes and how strict the parity check
is, so that a deployable model is described in the repository, not in shell history::

    name = "tau_tagger"
    checkpoint = "../runs/demo/tagger.pt"   # paths are relative to the recipe file
    output = "../runs/demo/tau_tagger.onnx"
    atol = 1e-5                              # parity tolerance vs torch: passes when
    rtol = 1e-6                              # |torch - onnx| <= atol + rtol |torch|
    example_seed = 0                         # seed of the random export example
    example_sizes = [24, 40, 17]             # node count of each example graph (for a
                                             # frame model: as many images as entries)
    fused_ops = false                        # true: aggregations as e2e_gnn's fused
                                             # operators (export-onnx --fused-ops)

The model class and its hyperparameters come from the checkpoint.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from e2e_gnn.export.parity import DEFAULT_EXAMPLE_SIZES


@dataclass(frozen=True)
class Recipe:
    name: str
    checkpoint: Path
    output: Path
    atol: float = 1e-5
    rtol: float = 1e-6
    example_seed: int = 0
    example_sizes: tuple[int, ...] = DEFAULT_EXAMPLE_SIZES
    fused_ops: bool = False

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError as err:
            msg = f"export recipe {str(path)!r} does not exist"
            raise FileNotFoundError(msg) from err
        except tomllib.TOMLDecodeError as err:
            msg = f"export recipe {str(path)!r} is not valid TOML: {err}"
            raise ValueError(msg) from err
        known = {field.name for field in fields(cls)}
        unknown = set(data) - known
        missing = {"name", "checkpoint", "output"} - set(data)
        if unknown or missing:
            msg = (
                f"export recipe {str(path)!r}: unknown keys {sorted(unknown)}, missing keys "
                f"{sorted(missing)}; a recipe has {sorted(known)}"
            )
            raise ValueError(msg)

        def beside_recipe(relative: str) -> Path:
            return Path(os.path.normpath(path.parent / relative))

        return cls(
            name=str(data["name"]),
            checkpoint=beside_recipe(data["checkpoint"]),
            output=beside_recipe(data["output"]),
            atol=float(data.get("atol", 1e-5)),
            rtol=float(data.get("rtol", 1e-6)),
            example_seed=int(data.get("example_seed", 0)),
            example_sizes=tuple(int(n) for n in data.get("example_sizes", DEFAULT_EXAMPLE_SIZES)),
            fused_ops=_flag(path, data, "fused_ops"),
        )


def _flag(path: Path, data: dict[str, object], key: str) -> bool:
    """A boolean key of the recipe (default false); anything but true/false is an error."""
    value = data.get(key, False)
    if not isinstance(value, bool):
        msg = f"export recipe {str(path)!r}: {key} must be true or false, got {value!r}"
        raise ValueError(msg)
    return value
