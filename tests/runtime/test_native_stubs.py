"""The hand-written stubs of e2e_gnn._native name exactly what the module binds."""

from __future__ import annotations

import ast
from pathlib import Path

import e2e_gnn
from e2e_gnn._native_loader import load_native


def test_stub_names_match_the_compiled_module() -> None:
    stub = Path(e2e_gnn.__file__).with_name("_native.pyi")
    tree = ast.parse(stub.read_text())
    stubbed = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    stubbed |= {
        node.target.id
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    bound = {name for name in dir(load_native()) if not name.startswith("_")} | {"__version__"}
    assert stubbed == bound
