"""Frame producers: detector images, point clouds and object graphs from ingested events.

- :class:`JetFrameProducer`: CMS E2E 125 x 125 multichannel jet frames;
- :class:`EGFrameProducer`: 32 x 32 ECAL crops around photons;
- :class:`LayeredCaloProducer`: ATLAS 15 x 15 x layer calorimeter images;
- :class:`PointCloudProducer`: JetPointNet cells around tracks (ragged);
- :class:`ObjectGraphProducer`: event graphs over NanoAOD objects;
- :mod:`~e2e_gnn.frames.geometry`: the detector numbers every producer uses;
- :func:`plot_frames`: PNG grids of frames;
- :func:`make_frames`: ROOT files in, a producer over every chunk, ROOT/parquet out.

- :class:`FrameBatch`: frames as a frame model takes them (training, export, ``infer``).

Producers take one chunk of events from :func:`e2e_gnn.io.read_events` and never import torch.
The names are imported when first used: ``from e2e_gnn.frames import FrameBatch`` does not
import the producers' awkward, uproot and matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module of this package that defines it
_MODULES = {
    "FrameBatch": "batch",
    "Frames": "base",
    "EGFrameProducer": "eg",
    "JET_CHANNELS": "jet",
    "JetFrameProducer": "jet",
    "LAYER_NAMES": "layered",
    "LayeredCaloProducer": "layered",
    "OBJECT_TYPES": "objects",
    "ObjectGraphProducer": "objects",
    "ObjectGraphs": "objects",
    "knn_eta_phi": "objects",
    "plot_frames": "plot",
    "POINT_FEATURES": "pointcloud",
    "TRACK_FEATURES": "pointcloud",
    "PointCloudProducer": "pointcloud",
    "PointClouds": "pointcloud",
    "PRODUCERS": "run",
    "FrameRun": "run",
    "make_frames": "run",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        msg = f"module 'e2e_gnn.frames' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(f"e2e_gnn.frames.{_MODULES[name]}"), name)


def __dir__() -> list[str]:
    return __all__
