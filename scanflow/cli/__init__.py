"""The `scanflow` command. Thin: it parses, calls the library, and prints.

Each module holds one group of commands; this one assembles them into `app`, in
the order `scanflow --help` lists them. Heavy imports (MLflow, the runner) happen
inside the commands that need them, so `scanflow --help` and `scanflow validate`
answer at once.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from scanflow.cli import (
    checks,
    containers,
    deploy,
    disk,
    interact,
    labels,
    optimize,
    serving,
    tracking,
    workflows,
)
from scanflow.cli.common import console, fail

__all__ = ["app", "main"]

app = typer.Typer(
    name="scanflow",
    help="Define ML workflows once; run them anywhere, track every run, serve, check and improve models.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from scanflow import __version__

        console.print(f"scanflow {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Scanflow: end-to-end ML workflow management."""


# Help lists the commands in the order they are added here, then the groups.
for command in (
    workflows.validate,
    workflows.run,
    workflows.resume,
    workflows.graph,
    tracking.wipe,
    interact.label,
    interact.improve,
    containers.build,
    optimize.optimize,
    serving.serve,
    checks.check,
):
    app.command()(command)
app.add_typer(tracking.runs_app, name="runs")
app.add_typer(labels.labels_app, name="labels")
app.add_typer(tracking.tracker_app, name="tracker")
app.add_typer(containers.export_app, name="export")
app.add_typer(containers.swarm_app, name="swarm")
app.add_typer(deploy.deploy_app, name="deploy")
app.add_typer(disk.cache_app, name="cache")


def main() -> None:
    """Run the command: the `scanflow` script and `python -m scanflow.cli` both start here."""
    # The CLI uses no pydantic plugins; skipping their entry-point scan keeps startup short.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        app()
    except BrokenPipeError:  # `scanflow runs | head`
        sys.exit(0)
    except OSError as error:  # a path no command checked: say which, not where in our code
        if os.environ.get("SCANFLOW_DEBUG") == "1":
            raise
        path = f" '{error.filename}'" if error.filename else ""
        fail(f"cannot use{path}: {error.strerror or error} (SCANFLOW_DEBUG=1 shows where it happened)")
        sys.exit(1)
