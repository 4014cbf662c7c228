"""benchmarks/render_tables.py: a row shows our time and the peer's, their ratio and our
distance to the floor, for each allocator setting, from the JSON alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import render_tables  # noqa: E402

META = {
    "machine": {"cpu": "probe CPU", "cores": 2, "platform": "probe"},
    "load_average_before": [1.0, 1.0, 1.0],
    "load_average_after": [2.0, 1.0, 1.0],
    "quick": False,
}
FLOOR = {
    "floor_ms": 2.5,
    "flops": 275_000_000,
    "compute_ms": 2.5,
    "bytes_lower": 460_000,
    "bytes_upper": 200_000_000,
    "memory_ms_lower": 0.014,
    "memory_ms_upper": 6.1,
}


def _layers(ours_ms: float, peer_ms: float) -> dict[str, Any]:
    return {
        "tagger": [
            {"variant": "torch_geometric, torch eager", "ms": peer_ms},
            {
                "variant": render_tables.OURS,
                "ms": ours_ms,
                "floor_ms": 2.5,
                "x_floor": ours_ms / 2.5,
            },
        ],
        "tagger_floors": {render_tables.OURS: FLOOR},
        "general_layers": [
            {
                "layer": "GCNConv",
                "pyg_eager_ms": 3.0,
                "pyg_compile_ms": float("nan"),
                "ours_onnx_ms": 1.5,
                "speedup_vs_pyg_eager": 2.0,
                "speedup_vs_pyg_compile": float("nan"),
                "floor_ms": 0.1,
                "x_floor": 15.0,
                "x_unfused": 0.75,
            }
        ],
    }


def test_a_row_has_its_ratio_to_the_peer_and_its_distance_to_the_floor(tmp_path: Path) -> None:
    result = {
        "meta": META,
        "allocators": {"default": _layers(10.0, 30.0), "tuned": _layers(8.0, 20.0)},
    }
    (tmp_path / "layers.json").write_text(json.dumps(result))
    table = render_tables.render(tmp_path).splitlines()
    assert table[0].split(" | ")[3:5] == ["ratio to peer", "x floor"]
    tagger = next(line for line in table if "README event), ours in ONNX" in line)
    cells = [c.strip() for c in tagger.split("|")[1:-1]]
    assert cells[2:5] == ["10.0 vs 30.0 ms / 8.0 vs 20.0 ms", "3.00x / 2.50x", "4.00x / 3.20x"]
    assert cells[5].startswith("floor 2.5 ms: 275 MFLOP")
    gcn = next(line for line in table if line.startswith("| `layers` | GCNConv"))
    cells = [c.strip() for c in gcn.split("|")[1:-1]]
    assert "vs PyG eager" in cells[1]  # torch.compile did not run: the eager peer
    assert cells[3:5] == ["2.00x / 2.00x", "15.00x / 15.00x"]
    assert cells[5] == "floor 0.1 ms; 0.75x the op-by-op time with nothing cached"
