"""Frame producers: detector images, point clouds and object graphs from ingested events.

- :class:`JetFrameProducer`: CMS E2E 125 x 125 multichannel jet frames;
- :class:`EGFrameProducer`: 32 x 32 ECAL crops around photons;
- :class:`LayeredCaloProducer`: ATLAS 15 x 15 x layer calorimeter images;
- :class:`PointCloudProducer`: JetPointNet cells around tracks (ragged);
- :class:`ObjectGraphProducer`: event graphs over NanoAOD objects;
- :mod:`~e2e_gnn.frames.geometry`: the detector numbers every producer uses;
- :func:`plot_frames`: PNG grids of frames;
- :func:`make_frames`: ROOT files in, a producer over every chunk, ROOT/parquet out.

Producers take one chunk of events from :func:`e2e_gnn.io.read_events` and never import torch.
"""

from e2e_gnn.frames.base import Frames
from e2e_gnn.frames.eg import EGFrameProducer
from e2e_gnn.frames.jet import JET_CHANNELS, JetFrameProducer
from e2e_gnn.frames.layered import LAYER_NAMES, LayeredCaloProducer
from e2e_gnn.frames.objects import OBJECT_TYPES, ObjectGraphProducer, ObjectGraphs, knn_eta_phi
from e2e_gnn.frames.plot import plot_frames
from e2e_gnn.frames.pointcloud import (
    POINT_FEATURES,
    TRACK_FEATURES,
    PointCloudProducer,
    PointClouds,
)
from e2e_gnn.frames.run import PRODUCERS, FrameRun, make_frames

__all__ = [
    "JET_CHANNELS",
    "LAYER_NAMES",
    "OBJECT_TYPES",
    "POINT_FEATURES",
    "PRODUCERS",
    "TRACK_FEATURES",
    "EGFrameProducer",
    "FrameRun",
    "Frames",
    "JetFrameProducer",
    "LayeredCaloProducer",
    "ObjectGraphProducer",
    "ObjectGraphs",
    "PointCloudProducer",
    "PointClouds",
    "knn_eta_phi",
    "make_frames",
    "plot_frames",
]


def __dir__() -> list[str]:
    return __all__
