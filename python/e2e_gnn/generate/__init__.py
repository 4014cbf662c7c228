"""Pythia8 + FastJet sample generator with a parametric detector response.

Needs the ``gen`` extra (``pythia8mc==8.317.2`` and ``fastjet``); importing this
package does not, only generating does.

- :mod:`.tasks`: the labelled tasks (Pythia processes per task)
- :mod:`.pythia`: Pythia8 generation read out as awkward arrays
- :mod:`.truth`: final-state particles and truth labels from the event record
- :mod:`.jets`: FastJet anti-kT R=0.4 jets and their labels
- :mod:`.detector`: :class:`DetectorConfig` and the vectorised detector response
- :mod:`.writer`: :func:`generate`, multi-process generation into a ROOT file
- :mod:`.cli`: the ``e2e-gnn generate`` command
"""

from .detector import DetectorConfig, DetectorResponse, simulate
from .tasks import TASKS, TaskSpec, displaced_photon_task, get_task
from .writer import SCHEMA_VERSION, generate

__all__ = [
    "SCHEMA_VERSION",
    "TASKS",
    "DetectorConfig",
    "DetectorResponse",
    "TaskSpec",
    "displaced_photon_task",
    "generate",
    "get_task",
    "simulate",
]


def __dir__() -> list[str]:
    return __all__
