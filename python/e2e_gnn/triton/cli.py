"""Click commands for Triton: ``e2e-gnn triton-repo`` and ``e2e-gnn serve``.

The app in ``e2e_gnn.cli`` adds them with ``main.add_command(serve_command)`` and
``main.add_command(triton_repo_command)``; ``export-onnx --triton-repo DIR`` calls
:func:`e2e_gnn.triton.write_repository` and :func:`print_repository`.
"""

from __future__ import annotations

import signal
import time
import warnings
from pathlib import Path
from types import FrameType

import click
from rich.console import Console
from rich.table import Table

from e2e_gnn.spec import SpecError
from e2e_gnn.triton.config import ConfigError, Deployment
from e2e_gnn.triton.repository import VARIANTS, WrittenRepository, write_repository
from e2e_gnn.triton.server import TritonServer, TritonServerError

console = Console()


def print_repository(written: WrittenRepository) -> None:
    """One line per written entry."""
    for variant, name in written.models.items():
        console.print(f"wrote {written.root / name} ({variant})", markup=False)


@click.command("triton-repo")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("repository", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Model name in the repository (default: file stem).")
@click.option("--instances", default=1, show_default=True, help="Instances per model.")
@click.option("--gpu", is_flag=True, help="GPU instances (KIND_GPU) instead of CPU.")
@click.option(
    "--threads",
    default=1,
    show_default=True,
    help="onnxruntime intra-op threads (1, with a warning, for a model that is not thread-safe).",
)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    type=click.Choice(VARIANTS),
    help="Entries to write (repeatable; default: all the model can be served as).",
)
@click.option(
    "--ensemble-gnn",
    type=click.Choice(["python", "onnx"]),
    default="python",
    show_default=True,
    help="GNN entry the hits ensemble runs: python (any server) or onnx (NGC server).",
)
def triton_repo_command(
    model: Path,
    repository: Path,
    name: str | None,
    instances: int,
    gpu: bool,
    threads: int,
    variants: tuple[str, ...],
    ensemble_gnn: str,
) -> None:
    """Write Triton model repository entries for an exported MODEL into REPOSITORY."""
    deployment = Deployment(kind="gpu" if gpu else "cpu", count=instances, intra_op_threads=threads)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            written = write_repository(
                model,
                repository,
                name=name,
                deployment=deployment,
                variants=variants or None,
                ensemble_gnn=ensemble_gnn,
            )
    except (ConfigError, SpecError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    for warning in caught:
        click.echo(f"Warning: {warning.message}", err=True)
    print_repository(written)


def _models_table(server: TritonServer) -> Table:
    table = Table("model", "version", "state")
    for entry in server.loaded_models():
        name = entry["name"]
        state = entry.get("state", "")
        if name in server.skipped:
            state = f"skipped: {server.skipped[name]}"
        table.add_row(name, entry.get("version", ""), state)
    return table


@click.command("serve")
@click.argument("repository", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--http-port", type=int, help="HTTP port on 127.0.0.1 (default: a free port).")
@click.option("--grpc-port", type=int, help="gRPC port on 127.0.0.1 (default: a free port).")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for ready.")
@click.option(
    "--binary",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="tritonserver binary (default: $E2E_GNN_TRITONSERVER, .venv-triton, PATH).",
)
def serve_command(
    repository: Path,
    http_port: int | None,
    grpc_port: int | None,
    timeout: float,
    binary: Path | None,
) -> None:
    """Serve a Triton model REPOSITORY on 127.0.0.1 until Ctrl-C."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a process started in the background of a non-interactive shell inherits
    # SIGINT ignored, and Python then leaves it ignored (Ctrl-C would do nothing)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server = TritonServer(
            repository,
            binary=binary,
            http_port=http_port,
            grpc_port=grpc_port,
            startup_timeout_s=timeout,
        )
        with server:
            console.print(_models_table(server))
            console.print(
                f"tritonserver ready: http {server.http_url}, grpc {server.grpc_url} "
                f"(pid {server.pid}); Ctrl-C stops it",
                markup=False,
            )
            while server.running():
                time.sleep(0.5)
            msg = f"tritonserver exited on its own; log tail:\n{server.log_tail()}"
            raise click.ClickException(msg)
    except KeyboardInterrupt:
        console.print("stopping tritonserver", markup=False)
    except (TritonServerError, ConfigError) as err:
        raise click.ClickException(str(err)) from err
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
