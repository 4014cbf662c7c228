"""The labelled physics tasks the generator can produce, as data.

Each task is one or two Pythia8 processes: a *signal* and a *background* process
whose events alternate in the output (even events signal, odd events background), or
a single process whose events carry both classes (quark vs gluon jets in hard QCD).
Jets and photons are labelled from the generator truth, see :mod:`.truth`.

All processes run at sqrt(s) = 13.6 TeV with multiparton interactions on unless the
caller switches them off (``mpi=False``: about 5x faster, used by quick tests).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TASKS", "TaskSpec", "get_task"]

_QCD = ("HardQCD:all = on",)


@dataclass(frozen=True)
class TaskSpec:
    """One labelled task.

    Args:
        name: the task name used on the command line.
        task_id: the integer written to the ``task`` branch.
        signal: Pythia settings of the signal process.
        background: Pythia settings of the background process, or ``None`` when the
            signal process alone yields both classes.
        signal_jets: which truth objects label jets 1 in signal events: ``"quark"``
            (hard-process quarks, with gluons labelled 0), ``"top"``, ``"tau"`` or
            ``None`` (jets are not labelled in this task: label -1).
    """

    name: str
    task_id: int
    signal: tuple[str, ...]
    background: tuple[str, ...] | None
    signal_jets: str | None


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="quark_gluon",
            task_id=0,
            signal=(*_QCD, "PhaseSpace:pTHatMin = 200"),
            background=None,
            signal_jets="quark",
        ),
        TaskSpec(
            name="top",
            task_id=1,
            signal=(
                "Top:gg2ttbar = on",
                "Top:qqbar2ttbar = on",
                "PhaseSpace:pTHatMin = 400",
                # hadronic W decays only, so that tops make fat hadronic jets
                "24:onMode = off",
                "24:onIfAny = 1 2 3 4 5",
            ),
            background=(*_QCD, "PhaseSpace:pTHatMin = 400"),
            signal_jets="top",
        ),
        TaskSpec(
            name="tau",
            task_id=2,
            signal=(
                "WeakSingleBoson:ffbar2gmZ = on",
                "PhaseSpace:mHatMin = 60",
                "23:onMode = off",
                "23:onIfAny = 15",
                # hadronic tau decays only
                "15:offIfAny = 11 13",
            ),
            background=(*_QCD, "PhaseSpace:pTHatMin = 20"),
            signal_jets="tau",
        ),
        TaskSpec(
            name="photon",
            task_id=3,
            signal=("PromptPhoton:all = on", "PhaseSpace:pTHatMin = 50"),
            background=(*_QCD, "PhaseSpace:pTHatMin = 50"),
            signal_jets=None,
        ),
    )
}


def get_task(task: str) -> TaskSpec:
    """Return the :class:`TaskSpec` called ``task``, with a clear error otherwise."""
    try:
        return TASKS[task]
    except KeyError:
        msg = f"unknown task {task!r}; expected one of {sorted(TASKS)}"
        raise ValueError(msg) from None
