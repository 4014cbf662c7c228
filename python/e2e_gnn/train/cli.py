"""The ``e2e-gnn train`` command (added to the app in ``e2e_gnn/cli.py``).

torch is imported when the command runs, so that the app loads without it.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from e2e_gnn.train.settings import (
    MODEL_KINDS,
    NODE_LEVEL,
    NODE_LOSSES,
    VALIDATION_FRACTION,
    TrainSettings,
)

__all__ = ["train_command"]

console = Console()
DEFAULTS = TrainSettings()


def _model_kinds(values: tuple[str, ...]) -> list[str]:
    """``--model a,b --model c`` -> [a, b, c], in order, without repeats."""
    kinds = list(dict.fromkeys(k.strip() for v in values for k in v.split(",") if k.strip()))
    unknown = [kind for kind in kinds if kind not in MODEL_KINDS]
    if unknown or not kinds:
        msg = f"unknown model kind(s) {unknown}; choose from {list(MODEL_KINDS)}"
        raise click.BadParameter(msg, param_hint="--model")
    return kinds


def _node_level(kinds: list[str], loss: str | None) -> str | None:
    """The node-level kind of ``kinds`` (trained alone) or None; checks ``--loss``."""
    node = [kind for kind in kinds if kind in NODE_LEVEL]
    if not node:
        if loss is not None:
            msg = f"--loss is for the node-level models {list(NODE_LEVEL)}, not {kinds}"
            raise click.BadParameter(msg, param_hint="--loss")
        return None
    if len(kinds) > 1:
        msg = (
            f"{node[0]} trains on its own data (graphs with per-node targets): train it "
            f"alone, not with {[k for k in kinds if k != node[0]]}"
        )
        raise click.BadParameter(msg, param_hint="--model")
    if loss is not None and loss not in NODE_LOSSES[node[0]]:
        msg = f"{node[0]} has no loss {loss!r}; choose from {list(NODE_LOSSES[node[0]])}"
        raise click.BadParameter(msg, param_hint="--loss")
    return node[0]


@click.command("train")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for <model>.pt, roc.png, loss.png and metrics.json.",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    default=("edgeconv",),
    show_default=True,
    help="edgeconv: the EdgeConv GNN on kNN graphs of the non-zero pixels; cnn: the small "
    "residual CNN; resnet15: the CMS E2E ResNet-15 (cnn and resnet15 take [B, C, H, W] "
    "frames); cnn3d: the displaced-photon 3D CNN (layered frames); arma: the "
    "displaced-photon ARMAConv GNN on threshold graphs of the pixels; jetpointnet: the "
    "JetPointNet segmentation of point clouds (`e2e-gnn frames --kind pointcloud`, trained "
    "alone); calibration: the constituent-calibration GNN on jet graphs (`e2e-gnn frames "
    "--kind constituents`, trained alone; --hidden, --layers). Repeat or comma-separate "
    "(edgeconv,cnn) to train several on the same split.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True)
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=DEFAULTS.lr, show_default=True
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size, show_default=True
)
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULTS.seed, show_default=True)
@click.option(
    "--validation-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=VALIDATION_FRACTION,
    show_default=True,
    help="Fraction of the events (all their frames) held out for validation.",
)
@click.option(
    "--hidden",
    type=click.IntRange(min=1),
    default=DEFAULTS.hidden,
    show_default=True,
    help="edgeconv, arma: width of the EdgeConv blocks (ARMAConv layers) and the head.",
)
@click.option(
    "--layers",
    type=click.IntRange(min=1),
    default=DEFAULTS.layers,
    show_default=True,
    help="edgeconv: blocks.",
)
@click.option(
    "-k",
    "--knn",
    type=click.IntRange(min=1),
    default=DEFAULTS.knn,
    show_default=True,
    help="edgeconv: neighbours per pixel node.",
)
@click.option(
    "--width",
    type=click.IntRange(min=1),
    default=DEFAULTS.width,
    show_default=True,
    help="cnn, cnn3d: channels of every block (the cost grows as its square); resnet15: "
    "maps of the first stage (the second has twice; the E2E studies: 16).",
)
@click.option(
    "--blocks",
    type=click.IntRange(min=0),
    default=DEFAULTS.blocks,
    show_default=True,
    help="cnn: residual blocks, each halving the frame size.",
)
@click.option(
    "--dense",
    type=click.IntRange(min=1),
    default=DEFAULTS.dense,
    show_default=True,
    help="cnn3d: units of the dense layer (the study: 100).",
)
@click.option(
    "--batch-norm/--no-batch-norm",
    default=DEFAULTS.batch_norm,
    show_default=True,
    help="cnn3d: a BatchNorm after the first convolution (docs/physics.md).",
)
@click.option(
    "--stacks",
    type=click.IntRange(min=1),
    default=DEFAULTS.stacks,
    show_default=True,
    help="arma: parallel stacks of every ARMAConv.",
)
@click.option(
    "--same-layer",
    type=click.FloatRange(min=0),
    default=DEFAULTS.same_layer,
    show_default=True,
    help="arma: edge distance within a layer, in normalised (row, col) units (a bin of a "
    "15-bin image is 1/7).",
)
@click.option(
    "--adjacent-layer",
    type=click.FloatRange(min=0),
    default=DEFAULTS.adjacent_layer,
    show_default=True,
    help="arma: edge distance between adjacent layers, same units.",
)
@click.option(
    "--loss",
    help="Node-level models: the loss. jetpointnet: mse (default: predicted vs true "
    "focused-particle energy per cell), mae, weighted_mse (of the fractions, weighted by "
    "cell energy); points labelled -1 are masked. calibration: lgk "
    "(default) or mse of the jet energy ratio, plus the rapidity term.",
)
@click.option(
    "--global-width",
    type=click.IntRange(min=1),
    default=DEFAULTS.global_width,
    show_default=True,
    help="jetpointnet: width of the global (max-pooled) feature; --hidden sets the "
    "per-point width.",
)
@click.option(
    "--regularization",
    type=click.FloatRange(min=0),
    default=DEFAULTS.regularization,
    show_default=True,
    help="jetpointnet: weight of the feature transform's orthogonality penalty.",
)
@click.option(
    "--reweight",
    default=DEFAULTS.reweight,
    help="Frame models: weight the training classes to a common distribution of two "
    "per-frame columns, such as pt,eta (the object's, written by `e2e-gnn frames`), with "
    "optional bin counts (pt:8,eta:4), so that kinematics do not do the tagging.",
)
def train_command(
    inputs: tuple[Path, ...],
    out: Path,
    models: tuple[str, ...],
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    validation_fraction: float,
    hidden: int,
    layers: int,
    knn: int,
    width: int,
    blocks: int,
    dense: int,
    batch_norm: bool,
    stacks: int,
    same_layer: float,
    adjacent_layer: float,
    loss: str | None,
    global_width: int,
    regularization: float,
    reweight: str,
) -> None:
    """Train taggers on the labelled frames of INPUTS (files of `e2e-gnn frames --kind jet`,
    eg or layered), split by event into training and validation sets (cnn3d takes layered
    frames, cnn and resnet15 plain ones, the GNNs either); or a node-level model on its
    data (jetpointnet: point clouds of `e2e-gnn frames --kind pointcloud`)."""
    try:
        from e2e_gnn.train.data import TrainingDataError
        from e2e_gnn.train.run import train_on_frames
    except ModuleNotFoundError as err:
        if err.name != "torch":
            raise
        msg = "`e2e-gnn train` needs torch: pip install 'e2e-gnn[train]'"
        raise click.ClickException(msg) from err

    kinds = _model_kinds(models)
    node_level = _node_level(kinds, loss)
    if node_level is not None and reweight:
        msg = f"--reweight balances the classes of the frame taggers; {node_level} has none"
        raise click.BadParameter(msg, param_hint="--reweight")
    settings = TrainSettings(
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        hidden=hidden,
        layers=layers,
        knn=knn,
        width=width,
        blocks=blocks,
        dense=dense,
        batch_norm=batch_norm,
        stacks=stacks,
        same_layer=same_layer,
        adjacent_layer=adjacent_layer,
        loss=loss or (NODE_LOSSES[node_level][0] if node_level else ""),
        global_width=global_width,
        regularization=regularization,
        reweight=reweight,
    )
    if node_level is not None:
        _train_node_level(inputs, out, node_level, settings, validation_fraction)
        return
    try:
        run = train_on_frames(inputs, out, kinds, settings, validation_fraction, console)
    except TrainingDataError as err:
        raise click.ClickException(str(err)) from err

    table = Table("model", "class", "parameters", "validation AUC", "seconds")
    for kind, result in run.models.items():
        table.add_row(
            kind,
            type(result.trained.job.model).__name__,
            f"{result.trained.job.parameters:,}",
            f"{result.trained.auc:.4f}",
            f"{result.seconds:.1f}",
        )
    console.print(table)
    console.print(
        f"wrote {', '.join(str(r.checkpoint) for r in run.models.values())}, "
        f"{out / 'roc.png'}, {out / 'loss.png'}, {out / 'metrics.json'}",
        soft_wrap=True,
        markup=False,
    )
    console.print("next, export (and check parity with torch):", soft_wrap=True)
    for kind, result in run.models.items():
        console.print(
            f"  e2e-gnn export-onnx --checkpoint {result.checkpoint} --out {out / kind}.onnx",
            soft_wrap=True,
            markup=False,
        )
    if run.validation_graphs is not None:
        console.print(
            f"then score the validation jets again: e2e-gnn infer --model {out / 'edgeconv'}.onnx "
            f"--graphs {run.validation_graphs} --out {out / 'scores.root'}",
            soft_wrap=True,
            markup=False,
        )


def _train_node_level(
    inputs: tuple[Path, ...],
    out: Path,
    kind: str,
    settings: TrainSettings,
    validation_fraction: float,
) -> None:
    from e2e_gnn.train.data import TrainingDataError
    from e2e_gnn.train.node_level import train_node_level

    try:
        run = train_node_level(inputs, out, kind, settings, validation_fraction, console)
    except TrainingDataError as err:
        raise click.ClickException(str(err)) from err
    table = Table("model", "class", "parameters", "validation loss", "seconds")
    table.add_row(
        kind,
        type(run.model).__name__,
        f"{run.metrics['parameters']:,}",
        f"{run.history.validation_loss[-1]:.4g}",
        f"{run.seconds:.1f}",
    )
    console.print(table)
    if run.kind.summary is not None:
        console.print(run.kind.summary(run.metrics), soft_wrap=True, markup=False)
    plots = ", ".join(str(out / name) for name in run.metrics["plots"])
    console.print(
        f"wrote {run.checkpoint}, {plots}, {out / 'metrics.json'}, "
        f"{out / run.metrics['validation_graphs']}",
        soft_wrap=True,
        markup=False,
    )
    console.print(
        f"next, export (and check parity with torch): e2e-gnn export-onnx --checkpoint "
        f"{run.checkpoint} --out {out / kind}.onnx",
        soft_wrap=True,
        markup=False,
    )
