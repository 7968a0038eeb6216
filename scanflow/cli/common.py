"""What the commands share: the consoles, how a command fails, option types, workflow loading."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from scanflow.run.state import RunState
    from scanflow.spec import Workflow
    from scanflow.tls import TlsFiles

console = Console()
_err = Console(stderr=True)

WorkflowFile = Annotated[
    Path,
    typer.Argument(
        help="workflow YAML file, or a folder holding workflow.yaml \\[default: this folder]",
        show_default=False,
    ),
]
TrackingUri = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        envvar="SCANFLOW_TRACKING_URI",
        help="MLflow tracking URI (default: embedded SQLite)",
    ),
]
HomeOption = Annotated[
    Path | None,
    typer.Option("--home", envvar="SCANFLOW_HOME", help="project folder for runs and the embedded store"),
]
TlsCert = Annotated[
    Path | None,
    typer.Option("--tls-cert", help="PEM certificate (chain) to answer HTTPS with; needs --tls-key"),
]
TlsKey = Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert")]
ServeToken = Annotated[
    str | None,
    typer.Option(
        envvar="SCANFLOW_SERVE_TOKEN", help="require 'Authorization: Bearer TOKEN'", show_default=False
    ),
]


JsonOutput = Annotated[bool, typer.Option("--json", help="print JSON (for scripts) instead of tables")]


def note(message: str) -> None:
    """A remark on stderr, where it stays out of a document printed on stdout."""
    _err.print(f"[dim]{escape(message)}[/]", highlight=False)


def print_json(document: object) -> None:
    """``document`` alone on stdout, indented: no colours, no wrapping, nothing else for a script to skip."""
    import json

    print(json.dumps(document, indent=2, default=str))


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error the user can act on, and return the exit to raise: their mistakes get no traceback.

    Code 2 is a usage or spec error, 1 a failure of what was asked, 130 a cancellation.
    """
    _err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)  # paths, data: no markup
    return typer.Exit(code)


def load_workflow(path: Path) -> Workflow:
    """Read a workflow file, failing with the spec's own message when it is invalid."""
    from scanflow.spec import SpecError, Workflow

    try:
        return Workflow.from_yaml(path)
    except SpecError as error:
        raise fail(str(error)) from None


def load_run(run_id: str, home: Path | None) -> RunState:
    """A run of the project's folder by id or unique prefix; a clear error when there is none."""
    from scanflow.home import Home
    from scanflow.run.state import RunStore

    try:
        return RunStore(Home.resolve(home).runs_dir).load(run_id)
    except LookupError as error:
        raise fail(str(error)) from None


def status_text(status: str) -> str:
    """A run, step or deployment status in its colour, the same in every table and tree."""
    colour = {
        "succeeded": "green",
        "done": "green",
        "cached": "green",
        "finished": "green",
        "failed": "red",
        "skipped": "yellow",
        "cancelled": "magenta",
        "killed": "magenta",
        "interrupted": "magenta",
        "running": "cyan",
    }.get(status, "white")
    return f"[{colour}]{status}[/]"


def https_files(cert: Path | None, key: Path | None) -> TlsFiles | None:
    """The ``--tls-cert``/``--tls-key`` pair, checked now, or None for plain HTTP."""
    from scanflow.tls import TlsError, TlsFiles

    try:
        tls = TlsFiles.given(cert, key)
    except TlsError as error:
        raise fail(str(error), code=2) from None
    try:
        if tls is not None:
            tls.check()
    except TlsError as error:
        raise fail(str(error), code=1) from None
    return tls


def shown_path(text: str) -> str:
    """A path under the working directory as a relative one (a table's column stays narrow); else as is."""
    path = Path(text.removeprefix("file://"))
    if not path.is_absolute():
        return text
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return text
