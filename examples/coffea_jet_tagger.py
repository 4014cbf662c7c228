"""Tag the jets of NanoAOD events inside a coffea processor with an e2e_gnn model.

The model is an exported graph model whose node features are jet fields (its spec names
them, e.g. ``pt``, ``eta``, ``phi``, ``mass``): each event's jets make one graph, built as
the spec says, scored on the dask workers by e2e_gnn's native runtime. The score is a new
column of the events, lazily computed like any other.

    python examples/coffea_jet_tagger.py MODEL.onnx nanoaod.root [--scheduler tcp://host:8786]

needs ``pip install 'e2e-gnn[dask]'``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import awkward as ak
import dask
from coffea import processor
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from e2e_gnn.runtime.dask_awkward import tag_objects


class JetTaggerProcessor(processor.ProcessorABC):
    """Scores each event's jets with ``model``: the score column, and how many events
    have a score above ``cut``."""

    def __init__(self, model: str | Path, cut: float = 0.5) -> None:
        self.model = str(model)
        self.cut = cut

    def process(self, events: Any) -> dict[str, Any]:
        jets = events.Jet[events.Jet.pt > 15]
        score = tag_objects(jets, self.model)  # one score per event with jets, None otherwise
        return {
            "score": score,
            "events": ak.num(events, axis=0),
            "passed": ak.sum(ak.fill_none(score > self.cut, False)),
        }

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        return accumulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--scheduler", help="a dask.distributed scheduler (default: threads)")
    args = parser.parse_args()
    events = NanoEventsFactory.from_root(
        {f: "Events" for f in args.files}, schemaclass=NanoAODSchema, mode="dask"
    ).events()
    out = JetTaggerProcessor(args.model).process(events)
    if args.scheduler:
        from distributed import Client

        with Client(args.scheduler):
            (result,) = dask.compute(out)
    else:
        (result,) = dask.compute(out)
    print(
        f"{result['events']} events, {ak.count(result['score'])} scored, "
        f"{result['passed']} with a score above 0.5"
    )


if __name__ == "__main__":
    main()
