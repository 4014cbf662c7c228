"""Inference must work in an environment where torch cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# A meta-path finder that refuses torch, torch_geometric and tritonclient, as in an
# inference-only install.
BLOCK_TORCH = textwrap.dedent(
    """
    import sys
    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torch_geometric", "tritonclient"):
                raise ModuleNotFoundError(
                    f"No module named {name!r} (blocked by the test)", name=name
                )
    sys.meta_path.insert(0, NoTorch())
    """
)


def run_without_torch(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_blocker_really_blocks_torch() -> None:
    result = run_without_torch("import torch")
    assert result.returncode != 0
    assert "blocked by the test" in result.stderr


def test_import_and_infer_without_torch(tagger_export, tmp_path) -> None:
    _, _, model_path = tagger_export
    code = f"""
    import numpy as np
    import e2e_gnn
    from e2e_gnn import GraphBatch, Tagger
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    edges = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    batch = GraphBatch.from_graphs([(x, edges), (x[:2], np.zeros((2, 0)))])
    for backend in ("onnxruntime", "native"):
        scores = Tagger({str(model_path)!r}, backend=backend)(batch)
        assert scores.shape == (2, 1), scores.shape
    assert "torch" not in sys.modules
    print("ok")
    """
    result = run_without_torch("import sys\n" + textwrap.dedent(code))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_cli_infer_without_torch(tagger_export, tmp_path) -> None:
    _, _, model_path = tagger_export
    code = f"""
    import numpy as np
    from e2e_gnn import GraphBatch
    from e2e_gnn.cli import main
    from e2e_gnn.io import write_graphs
    x = np.ones((3, 4), np.float32)
    write_graphs({str(tmp_path / "g.npz")!r}, GraphBatch.from_graphs([(x, [[0, 1], [1, 2]])]))
    main(["infer", "--model", {str(model_path)!r}, "--graphs", {str(tmp_path / "g.npz")!r},
          "--out", {str(tmp_path / "s.npz")!r}])
    """
    result = run_without_torch(code)
    assert "scored 1 graphs" in result.stdout, result.stderr
    assert (tmp_path / "s.npz").is_file()


def test_cli_train_without_torch_says_what_to_install() -> None:
    code = """
    from click.testing import CliRunner
    from e2e_gnn.cli import main
    runner = CliRunner()
    assert "--validation-fraction" in runner.invoke(main, ["train", "--help"]).output
    print(runner.invoke(main, ["train", "frames.root", "--out", "run"]).output)
    """
    result = run_without_torch(code)
    assert "`e2e-gnn train` needs torch: pip install 'e2e-gnn[train]'" in result.stdout, (
        result.stderr
    )


def test_cli_imports_stage_commands_only_when_named() -> None:
    code = """
    import sys
    from click.testing import CliRunner
    from e2e_gnn.cli import main
    lazy = ("e2e_gnn.generate", "e2e_gnn.frames", "e2e_gnn.train", "e2e_gnn.triton", "uproot")
    assert not [m for m in lazy if m in sys.modules], [m for m in lazy if m in sys.modules]
    runner = CliRunner()
    listing = runner.invoke(main, ["--help"]).output
    for name in ("generate", "frames", "train", "export-onnx", "infer", "serve", "triton-repo"):
        assert f"  {name} " in listing, name
    print(runner.invoke(main, ["serve", "repo"]).output)
    """
    result = run_without_torch(code)
    assert result.returncode == 0, result.stderr
    assert "`e2e-gnn serve` needs 'tritonclient': pip install 'e2e-gnn[triton]'" in result.stdout
