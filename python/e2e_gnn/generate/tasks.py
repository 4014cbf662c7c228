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

__all__ = [
    "ALP_CTAU_MM",
    "ALP_ID",
    "ALP_MASS_GEV",
    "TASKS",
    "TaskSpec",
    "displaced_photon_task",
    "get_task",
]

_QCD = ("HardQCD:all = on",)

ALP_ID = 9000005
"""PDG id given to the long-lived scalar of the displaced-photon task (a new particle)."""
ALP_MASS_GEV = 10.0
"""Default mass of that scalar."""
ALP_CTAU_MM = 100.0
"""Default proper decay length c tau (Pythia's ``tau0``, mm)."""
_HIGGS_MASS_GEV = 125.0


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
            (hard-process quarks, with gluons labelled 0), ``"top"``, ``"tau"``,
            ``"photon"`` (the task's truth photons with their labels, see
            ``long_lived``) or ``None`` (jets are not labelled in this task: label -1).
        long_lived: the PDG id of the long-lived particle whose decay photons are the
            signal photons (label 1, prompt photons 0), or ``None``: prompt photons
            (label 1) against neutral pions (label 0).
    """

    name: str
    task_id: int
    signal: tuple[str, ...]
    background: tuple[str, ...] | None
    signal_jets: str | None
    long_lived: int | None = None


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


def displaced_photon_task(mass_gev: float = ALP_MASS_GEV, ctau_mm: float = ALP_CTAU_MM) -> TaskSpec:
    """The displaced-photon task (ATLAS long-lived ALP study): gg -> H -> a a with a
    long-lived scalar ``a`` -> gamma gamma of mass ``mass_gev`` and proper decay length
    ``ctau_mm``, against prompt photons (qg -> q gamma, qqbar -> g gamma).

    The scalar is a new Pythia particle (id :data:`ALP_ID`, spin 0, neutral, no width)
    decayed by Pythia's particle decays after ``tau0 = ctau_mm``, so its photons start
    at the decay vertex: the transverse distance L_xy = c tau pT / m of an exponential
    proper time.
    """
    mass_gev, ctau_mm = float(mass_gev), float(ctau_mm)
    if not (0.0 < mass_gev < _HIGGS_MASS_GEV / 2):
        msg = f"ALP mass must be in (0, {_HIGGS_MASS_GEV / 2}) GeV (H -> a a), got {mass_gev!r}"
        raise ValueError(msg)
    if not (0.0 < ctau_mm < float("inf")):
        msg = f"ALP c tau must be finite and > 0 mm, got {ctau_mm!r}"
        raise ValueError(msg)
    a = ALP_ID
    return TaskSpec(
        name="displaced_photon",
        task_id=4,
        signal=(
            "HiggsSM:gg2H = on",
            # id:new = name antiName spinType chargeType colType m0 mWidth mMin mMax tau0
            f"{a}:new = alp void 1 0 0 {mass_gev!r} 0.0 0.0 0.0 {ctau_mm!r}",
            f"{a}:isResonance = off",
            f"{a}:mayDecay = on",
            f"{a}:addChannel = 1 1.0 0 22 22",
            "25:onMode = off",
            # meMode 100: the branching ratio as given (here the only open channel)
            f"25:addChannel = 1 1.0 100 {a} {a}",
        ),
        background=("PromptPhoton:all = on", "PhaseSpace:pTHatMin = 25"),
        signal_jets="photon",
        long_lived=a,
    )


TASKS["displaced_photon"] = displaced_photon_task()


def get_task(task: str) -> TaskSpec:
    """Return the :class:`TaskSpec` called ``task``, with a clear error otherwise."""
    try:
        return TASKS[task]
    except KeyError:
        msg = f"unknown task {task!r}; expected one of {sorted(TASKS)}"
        raise ValueError(msg) from None
