"""The `scanflow` command. Thin: it parses, calls the library, and prints.

Heavy imports (MLflow, the runner) happen inside the commands that need them,
so `scanflow --help` and `scanflow validate` answer at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="scanflow",
    help="Define ML workflows once; run them anywhere, track every run, serve, check and improve models.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)
runs_app = typer.Typer(help="List tracked workflow runs, or show one as a tree of step runs.")
tracker_app = typer.Typer(
    help="Run an MLflow tracking server (with its UI) on the project's store.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")
app.add_typer(tracker_app, name="tracker")

console = Console()
err = Console(stderr=True)

WorkflowFile = Annotated[Path, typer.Argument(help="workflow YAML file", show_default=False)]
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


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _load(path: Path):  # noqa: ANN202
    from scanflow.spec import SpecError, Workflow

    try:
        return Workflow.from_yaml(path)
    except SpecError as error:
        raise _fail(str(error)) from None


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


# ------------------------------------------------------------------ workflows
@app.command()
def validate(workflow: WorkflowFile) -> None:
    """Check a workflow file (fields, edges, cycles, files) without running it."""
    spec = _load(workflow)
    from scanflow.graph import Graph

    graph = Graph.from_workflow(spec)
    console.print(
        f"[green]✔[/] {workflow}: workflow [bold]{spec.name}[/] is valid —"
        f" {len(graph)} step(s), {len(graph.nested)} nested workflow(s)"
    )


@app.command()
def run(
    workflow: WorkflowFile,
    backend: Annotated[
        str, typer.Option("--backend", "-b", help="where steps run: local, docker, swarm")
    ] = "local",
    max_parallel: Annotated[
        int | None, typer.Option("--max-parallel", "-j", min=1, help="most steps at once")
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="stop everything at the first failure")
    ] = False,
    tracking_uri: TrackingUri = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="do not record the run in MLflow")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="keep step output in log files only")] = False,
    home: HomeOption = None,
) -> None:
    """Run a workflow: each step in its environment, tracked in MLflow."""
    spec = _load(workflow)
    from scanflow.run.runner import run_workflow

    _finish(
        lambda: run_workflow(
            spec,
            backend=backend,
            tracking_uri=tracking_uri,
            track=not no_track,
            max_parallel=max_parallel,
            fail_fast=fail_fast,
            home=home,
            console=console,
            stream_logs=not quiet,
        )
    )


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="run id (or a unique prefix) from `scanflow runs`")],
    max_parallel: Annotated[int | None, typer.Option("--max-parallel", "-j", min=1)] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast")] = False,
    tracking_uri: TrackingUri = None,
    no_track: Annotated[bool, typer.Option("--no-track")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    home: HomeOption = None,
) -> None:
    """Rerun only the steps of a run that failed, were skipped or never ran."""
    from scanflow.run.runner import resume_run

    _finish(
        lambda: resume_run(
            run_id,
            tracking_uri=tracking_uri,
            track=not no_track,
            max_parallel=max_parallel,
            fail_fast=fail_fast,
            home=home,
            console=console,
            stream_logs=not quiet,
        )
    )


def _finish(start) -> None:  # noqa: ANN001
    """Run, then turn the outcome into an exit code: 0 ok, 1 failed, 130 cancelled."""
    from scanflow.run.backend import BackendError
    from scanflow.run.envs import EnvBuildError
    from scanflow.run.status import RunStatus
    from scanflow.spec import SpecError
    from scanflow.track.store import TrackingError

    try:
        result = start()
    except (SpecError, BackendError, EnvBuildError, TrackingError, LookupError) as error:
        raise _fail(str(error), code=2 if isinstance(error, SpecError | LookupError) else 1) from None
    except KeyboardInterrupt:
        raise _fail("cancelled", code=130) from None
    if result.status is RunStatus.FAILED:
        console.print(f"Fix the failing steps, then: [bold]scanflow resume {result.run_id}[/]")
        raise typer.Exit(1)
    if result.status is RunStatus.CANCELLED:
        raise typer.Exit(130)


@app.command()
def graph(
    workflow: WorkflowFile,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="file to write: .svg, .dot, .png, .pdf")
    ] = Path("workflow.svg"),
) -> None:
    """Draw a workflow's DAG, nested workflows as boxes (Graphviz when installed)."""
    spec = _load(workflow)
    from scanflow.graph_render import write_picture

    try:
        write_picture(spec.graph(), output)
    except (ValueError, RuntimeError) as error:
        raise _fail(str(error)) from None
    console.print(f"[green]✔[/] wrote {output}")


# ----------------------------------------------------------------- tracking
def _client(tracking_uri: str | None, home: Path | None):  # noqa: ANN202
    from scanflow.home import Home
    from scanflow.track.store import TrackingError, open_client, prepare_store, sqlite_path

    project = Home.resolve(home)
    uri = project.tracking_uri(tracking_uri)
    database = sqlite_path(uri)
    if database is not None and not database.exists():
        console.print(f"No runs tracked yet ({uri}). Start one with `scanflow run WORKFLOW.yaml`.")
        raise typer.Exit(0)
    try:
        prepare_store(uri)
    except TrackingError as error:
        raise _fail(str(error), code=1) from None
    return open_client(uri)


@runs_app.callback(invoke_without_command=True)
def runs_list(
    ctx: typer.Context,
    workflow: Annotated[str | None, typer.Option("--workflow", "-w", help="only this workflow")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="how many runs")] = 20,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """List workflow runs, newest first, with status and duration."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from scanflow.run.console import format_duration
    from scanflow.track.query import RunNode, list_workflow_runs, workflow_of
    from scanflow.track.store import TAG_RUN_ID

    runs = list_workflow_runs(_client(tracking_uri, home), workflow, limit)
    if not runs:
        console.print("No workflow runs tracked" + (f" for '{workflow}'." if workflow else "."))
        return
    table = Table(title="Workflow runs")
    for column in ("run id", "workflow", "status", "started", "duration", "mlflow run"):
        table.add_column(column)
    import datetime

    for run in runs:
        node = RunNode(run)
        started = datetime.datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            run.data.tags.get(TAG_RUN_ID, ""),
            workflow_of(run),
            _status_text(node.status),
            started,
            format_duration(node.duration),
            run.info.run_id,
        )
    console.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Scanflow run id (or prefix) or MLflow run id")],
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Show a workflow run as a tree of nested workflow and step runs with their metrics."""
    from rich.tree import Tree

    from scanflow.run.console import format_duration
    from scanflow.track.query import find_workflow_run, run_tree

    client = _client(tracking_uri, home)
    try:
        root = run_tree(client, find_workflow_run(client, run_id))
    except LookupError as error:
        raise _fail(str(error)) from None

    def label(node) -> str:  # noqa: ANN001
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(node.metrics.items()))
        kind = {"workflow": "workflow ", "nested": "workflow "}.get(node.kind, "")
        parts = [f"{kind}[bold]{node.name}[/]", _status_text(node.status), format_duration(node.duration)]
        if metrics:
            parts.append(f"[dim]{metrics}[/]")
        return "  ".join(p for p in parts if p)

    tree = Tree(label(root))

    def add(branch: Tree, node) -> None:  # noqa: ANN001
        for child in node.children:
            add(branch.add(label(child)), child)

    add(tree, root)
    console.print(tree)
    console.print(f"[dim]MLflow run {root.run.info.run_id}, experiment {root.run.info.experiment_id}[/]")


def _status_text(status: str) -> str:
    colour = {
        "succeeded": "green",
        "done": "green",
        "cached": "green",
        "finished": "green",
        "failed": "red",
        "skipped": "yellow",
        "cancelled": "magenta",
        "killed": "magenta",
        "running": "cyan",
    }.get(status, "white")
    return f"[{colour}]{status}[/]"


@app.command()
def wipe(
    workflow: Annotated[
        str | None, typer.Argument(help="workflow name; every workflow when left out")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Delete tracked runs, metrics and artifacts (of one workflow, or all)."""
    from scanflow.home import Home
    from scanflow.track.wipe import wipe as wipe_tracked

    project = Home.resolve(home)
    uri = project.tracking_uri(tracking_uri)
    what = (
        f"every tracked run of workflow '{workflow}'"
        if workflow
        else "every tracked run, artifact and cached step"
    )
    if not yes and not typer.confirm(f"Delete {what} in {uri}?", default=False):
        raise _fail("nothing deleted", code=1)
    report = wipe_tracked(project, uri, workflow)
    kind = "deleted" if report.permanent else "marked deleted"
    console.print(
        f"[green]✔[/] {kind} {report.runs or 'all'} MLflow run(s)"
        f" in {len(report.experiments)} experiment(s); removed {report.local_runs} local run folder(s)"
    )
    for note in report.notes:
        console.print(f"[dim]{note}[/]")


@tracker_app.command("up")
def tracker_up(
    host: Annotated[
        str, typer.Option(help="address to bind; keep 127.0.0.1 unless you mean to share it")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port of the UI and API")] = 5000,
    backend_store_uri: Annotated[
        str | None,
        typer.Option(help="MLflow store (default: the project's embedded SQLite; postgresql://... works)"),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Start an MLflow server with its UI on the project's store (needs scanflow[server])."""
    from scanflow.home import Home
    from scanflow.track.server import TrackerServerError, serve_tracker

    try:
        serve_tracker(Home.resolve(home), host=host, port=port, backend_store_uri=backend_store_uri)
    except TrackerServerError as error:
        raise _fail(str(error), code=1) from None


# ------------------------------------------------------------------- checks
@app.command()
def check(
    current: Annotated[
        Path, typer.Option("--current", "-c", help="dataset to check: .csv, .parquet, .json, .npy, .npz...")
    ],
    reference: Annotated[
        Path | None, typer.Option("--reference", "-r", help="dataset the detector learns from")
    ] = None,
    detector: Annotated[
        str,
        typer.Option(
            "--detector",
            "-d",
            help="ks, cvm, mmd, label_shift, integrity, autoencoder, a plugin, pkg.mod:Class,"
            " or a saved checker folder",
        ),
    ] = "ks",
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="detector option KEY=VALUE (repeatable)")
    ] = None,
    json_path: Annotated[Path, typer.Option("--json", help="where to write the result")] = Path(
        "scanflow-check.json"
    ),
    report: Annotated[Path, typer.Option("--report", help="where to write the HTML report")] = Path(
        "scanflow-check.html"
    ),
    save_checker: Annotated[
        Path | None, typer.Option("--save-checker", help="save the fitted checker to this folder")
    ] = None,
) -> None:
    """Check a dataset for drift or integrity problems. Exit code 1 on drift, to gate CI pipelines."""
    import yaml

    from scanflow.check.base import CheckerError
    from scanflow.check.dataset import check_files
    from scanflow.check.table import result_table

    options = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _fail(f"--option takes KEY=VALUE, got {item!r}")
        options[key.strip()] = yaml.safe_load(value)
    try:
        outcome = check_files(current, reference, detector, options, json_path, report, save_checker)
    except (CheckerError, ImportError) as error:
        raise _fail(str(error)) from None
    console.print(result_table(outcome.result))
    console.print(f"[dim]wrote {json_path} and {report}[/]")
    if outcome.result.drifted:
        raise typer.Exit(1)


def main() -> None:
    # The CLI uses no pydantic plugins; skipping their entry-point scan keeps startup short.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        app()
    except BrokenPipeError:  # `scanflow runs | head`
        sys.exit(0)


if __name__ == "__main__":
    main()
