"""Run torch_geometric's own tests for the layers e2e_gnn reimplements, with the imports
swapped to e2e_gnn (issue 15's measure: "replace torch_geometric.nn by e2e_gnn.nn").

Usage: python scripts/pyg_test_suite.py PYG_CHECKOUT [--ref 2.8.0] [--out FILE.json]

PYG_CHECKOUT is a git clone of pyg-team/pytorch_geometric; the test files are taken at
``--ref``. In each file, every name imported from ``torch_geometric.nn`` (or
``torch_geometric.utils`` for scatter/softmax) that e2e_gnn.nn also provides is re-imported
from e2e_gnn.nn right after the original imports; nothing else changes. The JSON lists every
test with its outcome.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import e2e_gnn.nn as ours

TEST_FILES = (
    "test/nn/conv/test_edge_conv.py",
    "test/nn/conv/test_gcn_conv.py",
    "test/nn/conv/test_graph_conv.py",
    "test/nn/conv/test_sage_conv.py",
    "test/nn/conv/test_gat_conv.py",
    "test/nn/conv/test_gatv2_conv.py",
    "test/nn/conv/test_transformer_conv.py",
    "test/nn/conv/test_gin_conv.py",
    "test/nn/conv/test_arma_conv.py",
    "test/nn/conv/test_gravnet_conv.py",
    "test/nn/conv/test_message_passing.py",
    "test/nn/pool/test_glob.py",
    "test/utils/test_scatter.py",
    "test/utils/test_softmax.py",
)
SWAPPED_MODULES = ("torch_geometric.nn", "torch_geometric.utils")


def swap_imports(source: str) -> tuple[str, list[str]]:
    """``source`` with e2e_gnn's versions of the names it imports from torch_geometric."""
    tree = ast.parse(source)
    names = sorted(
        {
            alias.asname or alias.name
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module in SWAPPED_MODULES
            for alias in node.names
            if hasattr(ours, alias.name)
        }
    )
    if not names:
        return source, []
    last_import = max(
        node.end_lineno or node.lineno
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
    )
    lines = source.splitlines()
    lines.insert(last_import, f"from e2e_gnn.nn import {', '.join(names)}  # swapped")
    return "\n".join(lines) + "\n", names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--ref", default="2.8.0")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pyg_suite.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        swapped: dict[str, list[str]] = {}
        for name in TEST_FILES:
            show = ["git", "-C", str(args.checkout), "show", f"{args.ref}:{name}"]
            found = subprocess.run(show, capture_output=True, text=True, check=False)
            if found.returncode:
                print(f"skipped {name}: not in {args.ref}", file=sys.stderr)
                continue
            source, names = swap_imports(found.stdout)
            target = work / Path(name).name
            target.write_text(source)
            swapped[target.name] = names
        report = work / "report.xml"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                str(work),
                f"--junitxml={report}",
                "-o",
                "junit_family=xunit2",
            ],
            check=False,
        )
        outcomes = _outcomes(report)
    counts = Counter(outcome for outcome, _ in outcomes.values())
    result = {
        "pyg_ref": args.ref,
        "swapped_names": swapped,
        "counts": dict(counts),
        "tests": {name: {"outcome": o, "message": m} for name, (o, m) in sorted(outcomes.items())},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"{dict(counts)} -> {args.out}")
    return 0


def _outcomes(report: Path) -> dict[str, tuple[str, str]]:
    import xml.etree.ElementTree as ET

    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (
                    (child.get("message") or "").splitlines()[0][:300]
                    if child.get("message")
                    else ""
                )
        outcomes[name] = (outcome, message)
    return outcomes


if __name__ == "__main__":
    sys.exit(main())
