"""Commands on what MLflow tracked: list and show runs, pull container runs, wipe, serve the tracker."""

from __future__ import annotations

import contextlib
import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from scanflow.cli.common import (
    HomeOption,
    JsonOutput,
    TlsCert,
    TlsKey,
    TrackingUri,
    console,
    fail,
    https_files,
    load_run,
    print_json,
    status_text,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from scanflow.home import Home
    from scanflow.run.state import RunState
    from scanflow.track.query import RunNode


class RunListStatus(enum.StrEnum):
    running = "running"
    interrupted = "interrupted"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


runs_app = typer.Typer(help="List tracked workflow runs; show one as a tree, compare two, print a step log.")
tracker_app = typer.Typer(
    help="Run an MLflow tracking server (with its UI) on the project's store.", no_args_is_help=True
)


def _store_missing(tracking_uri: str | None, home: Path | None) -> bool:
    """The project's embedded store was never created (nothing tracked yet)."""
    from scanflow.home import Home, sqlite_file

    database = sqlite_file(Home.resolve(home).tracking_uri(tracking_uri))
    return database is not None and not database.exists()


def _client(tracking_uri: str | None, home: Path | None, empty_json: str | None = None) -> MlflowClient:
    """A client of the project's store; with nothing tracked yet, say so (or print ``empty_json``), exit 0."""
    from scanflow.home import Home
    from scanflow.track.store import TrackingError, open_client, prepare_store

    project = Home.resolve(home)
    uri = project.tracking_uri(tracking_uri)
    if _store_missing(tracking_uri, home):
        if empty_json is not None:
            print(empty_json)
        else:
            console.print(f"No runs tracked yet ({uri}). Start one with `scanflow run WORKFLOW.yaml`.")
            _mention_untracked(project)
        raise typer.Exit(0)
    try:
        prepare_store(uri)
    except TrackingError as error:
        raise fail(str(error), code=1) from None
    return open_client(uri)


def _mention_untracked(project: Home) -> None:
    """Runs made with --no-track are not in MLflow, but they are here and can be resumed."""
    from scanflow.run.state import RunStore

    local = RunStore(project.runs_dir).recent()
    if local:
        console.print(
            f"[dim]{len(local)} run(s) in {project.runs_dir} are not in this store (made with --no-track,"
            f" or tracked elsewhere); the latest is {local[0].name}, which `scanflow resume` resumes[/]"
        )


@runs_app.callback(invoke_without_command=True)
def runs_list(
    ctx: typer.Context,
    workflow: Annotated[str | None, typer.Option("--workflow", "-w", help="only this workflow")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="how many runs")] = 20,
    status: Annotated[
        RunListStatus | None, typer.Option("--status", "-s", help="only runs in this state")
    ] = None,
    as_json: JsonOutput = False,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """List workflow runs, newest first, with status and duration."""
    if ctx.invoked_subcommand is not None:
        return
    import datetime

    from rich.table import Table

    from scanflow.run.console import format_duration
    from scanflow.run.leftovers import INTERRUPTED
    from scanflow.track.query import RunNode, list_workflow_runs, workflow_of
    from scanflow.track.store import TAG_RUN_ID

    client = _client(tracking_uri, home, "[]" if as_json else None)
    asked = status.value if status is not None else None
    # An interrupted run is still "running" in MLflow: only its process is gone.
    runs = list_workflow_runs(client, workflow, limit, "running" if asked == "interrupted" else asked)
    stopped = _interrupted(runs, home)
    if asked in ("running", "interrupted"):
        runs = [r for r in runs if (r.data.tags.get(TAG_RUN_ID) in stopped) == (asked == "interrupted")]
    nodes = [
        RunNode(run, known_status=INTERRUPTED if run.data.tags.get(TAG_RUN_ID) in stopped else None)
        for run in runs
    ]
    if as_json:
        print_json([node.summary() for node in nodes])
        return
    if not runs:
        which = f" {asked}" if asked else ""
        console.print(f"No{which} workflow runs tracked" + (f" for '{workflow}'." if workflow else "."))
        if workflow is not None:
            _name_tracked_workflows(client, workflow)
        elif asked is None:
            from scanflow.home import Home

            _mention_untracked(Home.resolve(home))
        return
    table = Table(title="Workflow runs")
    table.add_column("run id", no_wrap=True, min_width=len("20261206-230201-0590"))  # whole, to be copied
    table.add_column("workflow", overflow="fold")
    for column in ("status", "started", "duration"):
        table.add_column(column, no_wrap=True)
    for node in nodes:
        run = node.run
        started = datetime.datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M")
        table.add_row(
            run.data.tags.get(TAG_RUN_ID, ""),
            workflow_of(run),
            status_text(node.status),
            started,
            format_duration(node.duration),
        )
    console.print(table)
    if stopped:
        which = next(iter(stopped)) if len(stopped) == 1 else "RUN_ID"
        console.print(f"[dim]interrupted: its Scanflow process ended mid-run; `scanflow resume {which}`[/]")


def _name_tracked_workflows(client: MlflowClient, asked: str) -> None:
    """An unknown --workflow is most often a typo: say which workflows the store has."""
    from scanflow.spec.errors import did_you_mean
    from scanflow.track.query import list_workflow_runs, workflow_of

    names = sorted({workflow_of(run) for run in list_workflow_runs(client, None, 1000)} - {asked})
    if names:
        hint = did_you_mean(asked, names)
        console.print(f"[dim]workflows tracked here: {', '.join(names)}{f' ({hint})' if hint else ''}[/]")


def _interrupted(runs: list, home: Path | None) -> set[str]:
    """Ids of the listed runs that say "running" though the process running them is gone."""
    from scanflow.home import Home
    from scanflow.run.leftovers import interrupted
    from scanflow.run.state import RunStore
    from scanflow.track.query import RunNode
    from scanflow.track.store import TAG_RUN_ID

    store = RunStore(Home.resolve(home).runs_dir)
    found = set()
    for run in runs:
        run_id = run.data.tags.get(TAG_RUN_ID)
        if not run_id or RunNode(run).status != "running":
            continue
        try:
            state = store.load(run_id)
        except LookupError:  # run elsewhere (another machine, a container tracker): no way to tell
            continue
        if interrupted(state):
            found.add(run_id)
    return found


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Scanflow run id (or prefix) or MLflow run id")],
    as_json: JsonOutput = False,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Show a workflow run as a tree of nested workflow and step runs with their metrics."""
    from rich.tree import Tree

    from scanflow.run.console import format_duration
    from scanflow.track.query import find_workflow_run, run_tree

    local = _local_run(run_id, home)  # the run's folder, tracked or not
    if local is not None and (_store_missing(tracking_uri, home) or local.tracking_uri is None):
        _show_local(local, as_json)
        return
    client = _client(tracking_uri, home)
    try:
        root = run_tree(client, find_workflow_run(client, run_id))
    except LookupError as error:
        if local is not None:  # tracked elsewhere (a container's tracker not pulled yet)
            _show_local(local, as_json)
            return
        raise fail(str(error)) from None
    if _interrupted([root.run], home):
        from scanflow.run.leftovers import INTERRUPTED

        root.known_status = INTERRUPTED
    if as_json:
        print_json(root.to_json())
        return

    def label(node: RunNode) -> str:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(node.metrics.items()))
        kind = {"workflow": "workflow ", "nested": "workflow "}.get(node.kind, "")
        duration = format_duration(node.duration) if node.status != "skipped" else ""
        parts = [f"{kind}[bold]{node.name}[/]", status_text(node.status), duration]
        if metrics:
            parts.append(f"[dim]{metrics}[/]")
        if node.reason:
            parts.append(escape(node.reason))
        if node.earlier:
            parts.append(f"[dim](+{len(node.earlier)} earlier attempt(s))[/]")
        return "  ".join(p for p in parts if p)

    tree = Tree(label(root))

    def add(branch: Tree, node: RunNode) -> None:
        for child in node.children:
            add(branch.add(label(child)), child)

    add(tree, root)
    console.print(tree)
    console.print(f"[dim]MLflow run {root.run.info.run_id}, experiment {root.run.info.experiment_id}[/]")
    if local is not None:
        _show_lifeline(local)


def _local_run(run_id: str, home: Path | None) -> RunState | None:
    from scanflow.home import Home
    from scanflow.run.state import RunStore

    try:
        return RunStore(Home.resolve(home).runs_dir).load(run_id)
    except LookupError:
        return None


def _show_lifeline(state: RunState) -> None:
    """What the run's lifeline stopped when its Scanflow process was killed, and when."""
    from scanflow.run.lifeline import LOG_NAME

    with contextlib.suppress(OSError):
        for line in (state.directory / LOG_NAME).read_text().splitlines():
            console.print(f"[dim]{escape(line)}[/]")


def _show_local(state: RunState, as_json: bool) -> None:
    """A run MLflow does not have (``--no-track``): what its folder records, without metrics."""
    from scanflow.run.console import run_summary
    from scanflow.run.leftovers import interrupted

    if as_json:
        steps = {key: record.to_json() for key, record in state.steps.items()}
        status = "interrupted" if interrupted(state) else state.status.value
        print_json(
            {
                "run_id": state.run_id,
                "workflow": state.workflow,
                "status": status,
                "tracked": False,
                "steps": steps,
            }
        )
        return
    console.print(run_summary(state))
    console.print(
        f"[dim]not tracked in MLflow (no metrics); a step's output: scanflow runs log {state.run_id} STEP[/]"
    )
    _show_lifeline(state)


@runs_app.command("diff")
def runs_diff(
    left: Annotated[str, typer.Argument(help="a run id (or prefix): the baseline")],
    right: Annotated[str, typer.Argument(help="the run to compare with it")],
    as_json: JsonOutput = False,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """What differs between two runs, step by step: parameters, metrics (with the change) and outcomes."""
    from rich.table import Table

    from scanflow.track.compare import differences
    from scanflow.track.query import find_workflow_run, run_tree

    client = _client(tracking_uri, home)
    try:
        trees = [run_tree(client, find_workflow_run(client, run_id)) for run_id in (left, right)]
    except LookupError as error:
        raise fail(str(error)) from None
    found = differences(*trees)
    if as_json:
        print_json([difference.to_json() for difference in found])
        return
    ids = [tree.summary()["run_id"] or tree.run.info.run_id for tree in trees]
    if not found:
        console.print(f"Runs {ids[0]} and {ids[1]} have the same parameters, metrics and outcomes.")
        return
    table = Table(title=f"A = {ids[0]}, B = {ids[1]}")
    for column in ("step", "kind", "name", "A", "B", "change (B - A)"):
        table.add_column(column, justify="right" if column.startswith("change") else "left", overflow="fold")

    def shown(value: object) -> str:
        return "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)

    for item in found:
        change = item.change
        colour = "" if change is None or change == 0 else "green" if change > 0 else "red"
        delta = "" if change is None else f"[{colour}]{change:+.4g}[/]" if colour else "0"
        table.add_row(
            item.step or "(workflow)",
            item.kind,
            Text(item.name),
            Text(shown(item.left)),
            Text(shown(item.right)),
            delta,
        )
    console.print(table)


@runs_app.command("log")
def runs_log(
    run_id: Annotated[str, typer.Argument(help="Scanflow run id (or a unique prefix)")],
    step: Annotated[
        str | None, typer.Argument(help="step, e.g. train/svm; the failed or running one when left out")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing until the step ends")] = False,
    home: HomeOption = None,
) -> None:
    """Print a step's output (every attempt), from the run's folder; -f follows a running step."""
    import sys

    from scanflow.follow import follow as follow_file
    from scanflow.run import step_logs

    state = load_run(run_id, home)
    try:
        key = step_logs.pick_step(state, step)
    except LookupError as error:
        raise fail(str(error)) from None
    path = step_logs.log_path(state, key)
    if path is None and not follow:
        record = state.steps[key]
        reason = f": {record.reason}" if record.reason else ""
        raise fail(f"step '{key}' of run {state.run_id} never started ({record.status.value}{reason})", 1)

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    if follow:
        running = step_logs.step_still_running(state.directory, key)
        try:
            follow_file(path or state.log_path(key), running, write)
        except KeyboardInterrupt:  # stops following; the step goes on
            raise typer.Exit(130) from None
    elif path is not None:
        follow_file(path, lambda: False, write)  # once through, a chunk at a time


@runs_app.command("pull")
def runs_pull(
    workflow: Annotated[str, typer.Argument(help="workflow whose container runs to copy")],
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Copy a workflow's runs from its container tracker into the local store."""
    from scanflow.home import Home
    from scanflow.run.backend import BackendError
    from scanflow.run.docker_engine import connect
    from scanflow.run.workflow_tracker import workflow_tracker_up
    from scanflow.track.pull import pull_runs
    from scanflow.track.store import TrackingError

    try:
        with (
            console.status(f"Starting the tracker of '{workflow}'…"),
            workflow_tracker_up(connect(), workflow, console.print) as source,
        ):
            report = pull_runs(source, Home.resolve(home), workflow, tracking_uri)
    except (BackendError, LookupError, TrackingError) as error:
        raise fail(str(error), code=1) from None
    console.print(f"[green]✔[/] copied {report.copied} run(s) of '{workflow}'; {report.skipped} already here")


def wipe(
    workflow: Annotated[
        str | None, typer.Argument(help="workflow name; every workflow when left out")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    models: Annotated[
        bool, typer.Option("--models", help="also delete the registered model versions these runs logged")
    ] = False,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Delete tracked runs, metrics and artifacts (of one workflow, or all)."""
    from mlflow.exceptions import MlflowException

    from scanflow.home import Home
    from scanflow.run.leftovers import RunInProgress
    from scanflow.track.store import TrackingError
    from scanflow.track.wipe import ModelsWouldBreak
    from scanflow.track.wipe import wipe as wipe_tracked

    project = Home.resolve(home)
    uri = project.tracking_uri(tracking_uri)
    what = (
        f"every tracked run of workflow '{workflow}'"
        if workflow
        else "every tracked run, artifact and cached step"
    )
    if not yes and not typer.confirm(f"Delete {what} in {uri}?", default=False):
        raise fail("nothing deleted", code=1)
    try:
        report = wipe_tracked(project, uri, workflow, models=models)
    except TrackingError as error:
        raise fail(f"{error} Nothing was deleted.", code=1) from None
    except (RunInProgress, ModelsWouldBreak) as error:
        raise fail(str(error), code=1) from None
    except MlflowException as error:  # the store refused a delete (a user without the permission, say)
        raise fail(f"the store refused: {error.message} (what was deleted before stays deleted)", 1) from None
    if workflow and not report.experiments and not report.local_runs:
        console.print(f"Nothing tracked for workflow '{workflow}' in {uri}.")
    else:
        kind = "deleted" if report.permanent else "marked deleted"
        console.print(
            f"[green]✔[/] {kind} {report.runs or 'all'} MLflow run(s)"
            f" in {len(report.experiments)} experiment(s); removed {report.local_runs} local run folder(s)"
        )
    if report.model_versions:
        console.print(
            f"[green]✔[/] deleted registered model version(s) {escape(', '.join(report.model_versions))}"
        )
    for note in report.notes:
        console.print(f"[dim]{escape(note)}[/]")
    _wipe_tracker_stores(workflow)


def _wipe_tracker_stores(workflow: str | None) -> None:
    """Container runs keep their tracker's store in a Docker volume: wipe deletes it too."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
    except Exception:  # no SDK or no engine: there is nothing of ours to delete there
        return
    from scanflow.run.workflow_tracker import remove_tracker_stores

    for name in remove_tracker_stores(client, workflow):
        console.print(f"[green]✔[/] removed the tracker store volume {name}")


class AuthMode(enum.StrEnum):
    """How `tracker up` checks who calls it."""

    none = "none"
    basic = "basic"


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
    auth: Annotated[
        AuthMode,
        typer.Option(
            help="basic: MLflow's users and passwords (the first start creates 'admin' with the"
            " password in MLFLOW_AUTH_ADMIN_PASSWORD)"
        ),
    ] = AuthMode.none,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="serve another address without authentication (behind an authenticating proxy)"
        ),
    ] = False,
    jobs: Annotated[
        bool, typer.Option("--jobs", help="also run MLflow's background job runner (GenAI scorers)")
    ] = False,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    home: HomeOption = None,
) -> None:
    """Start an MLflow server with its UI on the project's store (needs scanflow\\[server])."""
    from scanflow.home import Home
    from scanflow.track.server import TrackerServerError, serve_tracker

    tls = https_files(tls_cert, tls_key)
    try:
        serve_tracker(
            Home.resolve(home),
            host=host,
            port=port,
            backend_store_uri=backend_store_uri,
            basic_auth=auth is AuthMode.basic,
            insecure=insecure,
            jobs=jobs,
            tls=tls,
        )
    except TrackerServerError as error:
        raise fail(str(error), code=1) from None
