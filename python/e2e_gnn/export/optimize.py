"""The graph optimisation ``torch.onnx.export`` applies, without its one quadratic rewrite.

torch optimises the exported graph with onnxscript's ``optimize_ir``: constant folding, the
default rewrite rules and the clean-up passes, twice, then the passes that lift constants
and remove duplicates (its ONNX fusions only apply from opset 23; e2e_gnn exports opset 18).
One of the rewrite rules, ``SlicesSplit`` (two Slices of one tensor -> one Split), matches
two output nodes: for every Slice it tries every node of the graph as the second one,
listing the whole graph each time. On e2e_gnn's taggers (about 1,200 nodes before
optimisation) that was two thirds of the optimisation: an EdgeConvTagger 64 x 3 exported
in 9.5 s of CPU with it and in 6.4 s without, to the same operators. :func:`optimize` runs
``optimize_ir``'s passes, in its order, with every default rule but that one.

The rule list and the folding pass are onnxscript's private names (checked with onnxscript
0.7.2): if they are missing, torch's own optimisation runs instead.
"""

from __future__ import annotations

from typing import Any

QUADRATIC_RULES = frozenset({"SlicesSplit"})
"""Default rewrite rules left out: their matching takes time quadratic in the graph."""


def optimize(program: Any) -> None:
    """Optimise ``program`` (a ``torch.onnx.ONNXProgram`` exported with ``optimize=False``)
    in place, as ``program.optimize()`` would, without :data:`QUADRATIC_RULES`."""
    passes = _passes()
    if passes is None:
        program.optimize()
    else:
        passes(program.model)


def _passes() -> Any:
    import onnx_ir as ir
    import onnx_ir.passes.common as common
    from onnxscript import rewriter
    from onnxscript.optimizer import _constant_folding as folding

    rules = getattr(rewriter, "_DEFAULT_REWRITE_RULES", None)
    fold = getattr(folding, "FoldConstantsPass", None)
    limits = (
        getattr(folding, "DEFAULT_CONSTANT_FOLD_INPUT_SIZE_LIMIT", None),
        getattr(folding, "DEFAULT_CONSTANT_FOLD_OUTPUT_SIZE_LIMIT", None),
    )
    if rules is None or fold is None or None in limits:
        return None
    kept = [rule for rule in rules if getattr(rule, "name", None) not in QUADRATIC_RULES]
    repeated = ir.passes.PassManager(
        [
            fold(shape_inference=True, input_size_limit=limits[0], output_size_limit=limits[1]),
            rewriter.RewritePass(kept),
            common.RemoveUnusedNodesPass(),
            common.RemoveUnusedFunctionsPass(),
            common.RemoveUnusedOpsetsPass(),
        ],
        steps=2,
        early_stop=True,
    )
    return ir.passes.Sequential(
        common.InlinePass(),
        repeated,
        common.RemoveUnusedNodesPass(),
        common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0),
        common.LiftSubgraphInitializersToMainGraphPass(),
        common.DeduplicateInitializersPass(),
        common.CommonSubexpressionEliminationPass(),
        common.OutputFixPass(),
        common.NameFixPass(),
    )
