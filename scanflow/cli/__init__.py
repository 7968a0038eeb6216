"""The `scanflow` command. Thin: it parses, calls the library, and prints.

Heavy imports (MLflow, the runner) happen inside the commands that need them,
so `scanflow --help` and `scanflow validate` answer at once.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from scanflow.cli.common import (
    HomeOption,
    ServeToken,
    TrackingUri,
    WorkflowFile,
    console,
    fail,
    load_workflow,
    status_text,
)

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
export_app = typer.Typer(help="Export a workflow as files other tools run.", no_args_is_help=True)
swarm_app = typer.Typer(help="Look at what Scanflow runs on a Docker Swarm.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(tracker_app, name="tracker")
app.add_typer(export_app, name="export")
app.add_typer(swarm_app, name="swarm")


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
    spec = load_workflow(workflow)
    from scanflow.graph import Graph

    graph = Graph.from_workflow(spec)
    console.print(
        f"[green]✔[/] {workflow}: workflow [bold]{spec.name}[/] is valid —"
        f" {len(graph)} step(s), {len(graph.nested)} nested workflow(s)"
    )


MaxParallel = Annotated[int | None, typer.Option("--max-parallel", "-j", min=1, help="most steps at once")]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="stop everything at the first failure")]
NoTrack = Annotated[bool, typer.Option("--no-track", help="do not record the run in MLflow")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="keep step output in log files only")]


def _run_options(
    tracking_uri: str | None,
    no_track: bool,
    max_parallel: int | None,
    fail_fast: bool,
    home: Path | None,
    quiet: bool,
) -> dict:
    return {
        "tracking_uri": tracking_uri,
        "track": not no_track,
        "max_parallel": max_parallel,
        "fail_fast": fail_fast,
        "home": home,
        "console": console,
        "stream_logs": not quiet,
    }


@app.command()
def run(
    workflow: WorkflowFile,
    backend: Annotated[
        str, typer.Option("--backend", "-b", help="where steps run: local, docker, swarm")
    ] = "local",
    max_parallel: MaxParallel = None,
    fail_fast: FailFast = False,
    tracking_uri: TrackingUri = None,
    no_track: NoTrack = False,
    quiet: Quiet = False,
    home: HomeOption = None,
) -> None:
    """Run a workflow: each step in its environment, tracked in MLflow."""
    spec = load_workflow(workflow)
    from scanflow.run.runner import run_workflow

    options = _run_options(tracking_uri, no_track, max_parallel, fail_fast, home, quiet)
    _finish(lambda: run_workflow(spec, backend=backend, **options))


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="run id (or a unique prefix) from `scanflow runs`")],
    max_parallel: MaxParallel = None,
    fail_fast: FailFast = False,
    tracking_uri: TrackingUri = None,
    no_track: NoTrack = False,
    quiet: Quiet = False,
    home: HomeOption = None,
) -> None:
    """Rerun only the steps of a run that failed, were skipped or never ran."""
    from scanflow.run.runner import resume_run

    _finish(
        lambda: resume_run(
            run_id, **_run_options(tracking_uri, no_track, max_parallel, fail_fast, home, quiet)
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
        raise fail(str(error), code=2 if isinstance(error, SpecError | LookupError) else 1) from None
    except KeyboardInterrupt:
        raise fail("cancelled", code=130) from None
    if result.status is RunStatus.FAILED:
        console.print(
            f"Fix the failing steps, then: [bold]scanflow resume {result.run_id}[/]", highlight=False
        )
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
    spec = load_workflow(workflow)
    from scanflow.graph_render import write_picture

    try:
        write_picture(spec.graph(), output)
    except (ValueError, RuntimeError) as error:
        raise fail(str(error)) from None
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
        raise fail(str(error), code=1) from None
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
    for column in ("run id", "workflow", "status", "started", "duration"):
        table.add_column(column, no_wrap=True)
    import datetime

    for run in runs:
        node = RunNode(run)
        started = datetime.datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M")
        table.add_row(
            run.data.tags.get(TAG_RUN_ID, ""),
            workflow_of(run),
            status_text(node.status),
            started,
            format_duration(node.duration),
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
        raise fail(str(error)) from None

    def label(node) -> str:  # noqa: ANN001
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(node.metrics.items()))
        kind = {"workflow": "workflow ", "nested": "workflow "}.get(node.kind, "")
        duration = format_duration(node.duration) if node.status != "skipped" else ""
        parts = [f"{kind}[bold]{node.name}[/]", status_text(node.status), duration]
        if metrics:
            parts.append(f"[dim]{metrics}[/]")
        if node.earlier:
            parts.append(f"[dim](+{len(node.earlier)} earlier attempt(s))[/]")
        return "  ".join(p for p in parts if p)

    tree = Tree(label(root))

    def add(branch: Tree, node) -> None:  # noqa: ANN001
        for child in node.children:
            add(branch.add(label(child)), child)

    add(tree, root)
    console.print(tree)
    console.print(f"[dim]MLflow run {root.run.info.run_id}, experiment {root.run.info.experiment_id}[/]")


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

    try:
        with (
            console.status(f"Starting the tracker of '{workflow}'…"),
            workflow_tracker_up(connect(), workflow, console.print) as source,
        ):
            report = pull_runs(source, Home.resolve(home), workflow, tracking_uri)
    except (BackendError, LookupError) as error:
        raise fail(str(error), code=1) from None
    console.print(f"[green]✔[/] copied {report.copied} run(s) of '{workflow}'; {report.skipped} already here")


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
        raise fail("nothing deleted", code=1)
    report = wipe_tracked(project, uri, workflow)
    kind = "deleted" if report.permanent else "marked deleted"
    console.print(
        f"[green]✔[/] {kind} {report.runs or 'all'} MLflow run(s)"
        f" in {len(report.experiments)} experiment(s); removed {report.local_runs} local run folder(s)"
    )
    for note in report.notes:
        console.print(f"[dim]{note}[/]")
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
        raise fail(str(error), code=1) from None


# ------------------------------------------------------------------ interact
LabelStoreUrl = Annotated[
    str | None,
    typer.Option(
        "--store", envvar="SCANFLOW_LABEL_STORE", help="label store URL (default: .scanflow/labels.db)"
    ),
]


def _interact_errors():  # noqa: ANN202
    """Errors of the interact commands that are the user's to fix: printed, never a traceback."""
    from scanflow.extras import MissingExtraError

    try:
        from scanflow.interact.labellers import LabellingTimeout
        from scanflow.interact.trainers import TrainingError
    except MissingExtraError as error:
        raise fail(str(error)) from None
    return (ValueError, LookupError, MissingExtraError, LabellingTimeout, TrainingError)


@app.command()
def label(
    queue: Annotated[str, typer.Option("--queue", "-q", help="label queue to work on")],
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="first queue a batch from this dataset (.npz/.csv/.parquet, MLflow artifact URI)"
            " or prediction-log database URL",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="registered model that guides the picks: NAME or NAME@ALIAS")
    ] = None,
    classes: Annotated[
        str | None, typer.Option("--classes", help="comma-separated classes, when there is no model")
    ] = None,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="query strategy")] = "hybrid",
    batch: Annotated[int, typer.Option("--batch", "-n", min=1, help="samples to queue")] = 10,
    terminal: Annotated[
        bool, typer.Option("--terminal", help="label in this terminal instead of a browser")
    ] = False,
    host: Annotated[str, typer.Option(help="address to serve the page on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port of the labelling page")] = 8765,
    who: Annotated[str | None, typer.Option("--who", help="your name in the label store")] = None,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="open the page in a browser")
    ] = True,
    store: LabelStoreUrl = None,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Label a queue's samples in the browser (or the terminal): digits label, s skips, u undoes."""
    errors = _interact_errors()
    from scanflow.interact.session import LabellingSession
    from scanflow.interact.store import LabelStore

    try:
        labels = LabelStore(store, home=home)
        if source is not None:
            from scanflow.interact.selection import queue_from_source
            from scanflow.interact.strategies import make_strategy

            picked = queue_from_source(
                labels,
                queue,
                source,
                model=model,
                classes=classes.split(",") if classes else None,
                strategy=make_strategy(strategy),
                batch_size=batch,
                tracking_uri=tracking_uri,
                home=home,
            )
            console.print(
                f"queued {len(picked.queued)} of {picked.pool_size} samples ({strategy}) in '{queue}'"
            )
        session = LabellingSession(labels, queue, who=who)
    except errors as error:
        raise fail(str(error)) from None
    if terminal:
        from scanflow.interact.ui.terminal import label_in_terminal

        label_in_terminal(session, console=console)
        return
    from scanflow.interact.ui.app import serve

    def ready(url: str) -> None:
        console.print(f"Labelling [bold]{queue}[/] at {url}  (Ctrl-C to stop; every label is saved at once)")
        if browser:
            import webbrowser

            webbrowser.open(url)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person stops labelling
        serve(session, host=host, port=port, on_ready=ready)


@app.command()
def improve(
    model: Annotated[str, typer.Argument(help="registered model to improve", show_default=False)],
    pool: Annotated[
        str, typer.Option("--pool", help="samples to pick from: dataset file/artifact or prediction-log URL")
    ],
    holdout: Annotated[str, typer.Option("--holdout", help="labelled dataset to compare models on")],
    workflow: Annotated[
        Path | None, typer.Option("--workflow", "-w", help="workflow YAML whose step trains the model")
    ] = None,
    step: Annotated[str | None, typer.Option("--step", help="the workflow's training step")] = None,
    fit: Annotated[
        str | None,
        typer.Option("--fit", help="or a function 'pkg.module:fit' taking (X, y), returning a model"),
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="labelled data the champion learnt from")
    ] = None,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="query strategy")] = "hybrid",
    batch: Annotated[int, typer.Option("--batch", "-n", min=1, help="samples to label per round")] = 10,
    rounds: Annotated[int, typer.Option("--rounds", "-r", min=1, help="rounds of the loop")] = 1,
    oracle: Annotated[
        Path | None, typer.Option("--oracle", help="dataset with the true labels, instead of people")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="seconds to wait for people to label a batch")
    ] = None,
    approve: Annotated[bool, typer.Option("--approve", help="ask before promoting a better model")] = False,
    min_gain: Annotated[float, typer.Option("--min-gain", help="promote only above this gain")] = 0.0,
    alias: Annotated[str, typer.Option("--alias", help="registry alias of the serving model")] = "champion",
    metric: Annotated[
        str, typer.Option("--metric", help="accuracy, balanced_accuracy, f1_macro")
    ] = "accuracy",
    queue: Annotated[
        str | None, typer.Option("--queue", "-q", help="label queue (default MODEL-improve)")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="seed of the strategy")] = None,
    store: LabelStoreUrl = None,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Pick samples, get them labelled, retrain, and promote the model if it beats the champion."""
    errors = _interact_errors()
    if (workflow is None) == (fit is None) or (workflow is not None and step is None):
        raise fail("give the trainer: --workflow FILE --step NAME, or --fit pkg.module:function")
    from scanflow.interact.improve import improve as improve_model
    from scanflow.interact.labellers import Oracle, WaitForPeople
    from scanflow.interact.trainers import FunctionTrainer, WorkflowTrainer
    from scanflow.spec import SpecError

    def ask(comparison) -> bool:  # noqa: ANN001
        return typer.confirm(
            f"{comparison.summary()}. Promote v{comparison.challenger_version}?", default=False
        )

    try:
        if workflow is not None:
            trainer = WorkflowTrainer(load_workflow(workflow), step or "", home=home)
        else:
            import importlib

            module, _, name = (fit or "").partition(":")
            trainer = FunctionTrainer(getattr(importlib.import_module(module), name))
        result = improve_model(
            model,
            pool=pool,
            holdout=holdout,
            reference=reference,
            trainer=trainer,
            strategy=strategy,
            batch_size=batch,
            rounds=rounds,
            labeller=Oracle(oracle) if oracle else WaitForPeople(timeout=timeout),
            queue=queue,
            store=store,
            alias=alias,
            metric=metric,
            min_gain=min_gain,
            approve=ask if approve else None,
            tracking_uri=tracking_uri,
            home=home,
            seed=seed,
            report=console.print,
        )
    except (*errors, SpecError, ImportError, AttributeError) as error:
        raise fail(str(error), code=1) from None
    except KeyboardInterrupt:
        raise fail("stopped; every label given so far is kept", code=130) from None
    verdict = f"promoted v{result.champion_version}" if result.promoted else "champion kept"
    console.print(f"[green]✔[/] {model}@{alias}: {verdict} (MLflow run {result.mlflow_run_id})")


# ---------------------------------------------------------------- containers
@app.command()
def build(
    workflow: WorkflowFile,
    steps: Annotated[bool, typer.Option("--steps", help="show every Dockerfile step")] = False,
) -> None:
    """Build the container images of a workflow's steps and its tracker (cached by content)."""
    spec = load_workflow(workflow)
    from scanflow.run.backend import BackendError
    from scanflow.run.images import build_images

    try:
        with console.status("Building images…"):
            tags = build_images(spec, console.print, show_steps=steps)
    except BackendError as error:
        raise fail(str(error), code=1) from None
    for key, tag in tags.items():
        console.print(f"[green]✔[/] {key}: {tag}")


@export_app.command("compose")
def export_compose(
    workflow: WorkflowFile,
    output: Annotated[Path, typer.Option("--output", "-o", help="folder to write")] = Path("compose"),
    tracker_port: Annotated[int, typer.Option(help="published port of the tracker")] = 5000,
    endpoint_mode: Annotated[str, typer.Option(help="Swarm service discovery: vip or dnsrr")] = "vip",
    publish_mode: Annotated[str, typer.Option(help="how the tracker port is published: ingress or host")] = (
        "ingress"
    ),
) -> None:
    """Write docker-compose.yml and build contexts; deploy with `docker stack deploy -c`."""
    spec = load_workflow(workflow)
    from scanflow.deploy.compose import ComposeOptions
    from scanflow.deploy.compose import export_compose as write_compose
    from scanflow.run.backend import BackendError
    from scanflow.run.images import ImageBuilder

    options = ComposeOptions(tracker_port, endpoint_mode, publish_mode)
    try:
        with console.status("Preparing wheels and build contexts…"):
            exported = write_compose(spec, output, ImageBuilder(None, console.print), options)
    except (BackendError, ValueError) as error:
        raise fail(str(error), code=1) from None
    console.print(
        f"[green]✔[/] wrote {exported.compose_file} and {len(set(exported.images.values()))} build contexts"
    )
    console.print(f"[dim]build: scanflow build {workflow}[/]")
    console.print(f"[dim]deploy: docker stack deploy -c {exported.compose_file} NAME[/]")


@swarm_app.command("status")
def swarm_status(
    workflow: Annotated[str | None, typer.Argument(help="workflow name; all when left out")] = None,
) -> None:
    """Show the Swarm services of a workflow: trackers and running or finished step jobs."""
    from rich.table import Table

    from scanflow.run.backend import BackendError
    from scanflow.run.docker_engine import connect
    from scanflow.run.swarm import service_statuses

    try:
        rows = service_statuses(connect(), workflow)
    except BackendError as error:
        raise fail(str(error), code=1) from None
    if not rows:
        console.print("No Scanflow services on this swarm" + (f" for '{workflow}'." if workflow else "."))
        return
    table = Table(title="Scanflow services")
    for column in ("service", "workflow", "run", "kind", "step", "mode", "tasks"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.name, row.workflow, row.run_id, row.kind, row.step, row.mode, row.tasks)
    console.print(table)


# ------------------------------------------------------------------ serving


@app.command()
def serve(
    model: Annotated[
        str | None,
        typer.Argument(help="MLflow model URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/..., a path"),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", envvar="SCANFLOW_SERVE_RULES", help="rule file choosing among models"),
    ] = None,
    host: Annotated[
        str,
        typer.Option(envvar="SCANFLOW_SERVE_HOST", help="address to bind; 0.0.0.0 exposes it (use --token)"),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="SCANFLOW_SERVE_PORT", help="port to listen on")] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, envvar="SCANFLOW_SERVE_WORKERS", help="server processes")
    ] = 1,
    token: ServeToken = None,
    checker: Annotated[
        list[str] | None,
        typer.Option(
            "--checker",
            envvar="SCANFLOW_SERVE_CHECKERS",
            help="live checker: FILE.py[:NAME], pkg.mod:NAME, saved",
        ),
    ] = None,
    check_window: Annotated[int, typer.Option(min=1, help="rows per checked window")] = 200,
    check_ert: Annotated[
        int, typer.Option(min=1, help="rows between false alarms on healthy traffic (saved checkers)")
    ] = 10_000,
    check_queue: Annotated[
        int, typer.Option(min=1, help="rows waiting to be checked before dropping")
    ] = 10_000,
    report_every: Annotated[
        float, typer.Option(min=0, help="seconds between logs of check results to the tracker (0: never)")
    ] = 30.0,
    follow_every: Annotated[
        float, typer.Option(min=0, help="seconds between registry looks for a moved alias (0: never)")
    ] = 10.0,
    log_db: Annotated[
        str | None,
        typer.Option(
            envvar="SCANFLOW_SERVE_LOG_DB", help="prediction log database URL (default: SQLite in .scanflow/)"
        ),
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="do not log predictions")] = False,
    max_body_bytes: Annotated[int, typer.Option(min=1, help="largest request body accepted")] = 10
    * 1024
    * 1024,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Serve a model as a prediction API: MLflow request formats, live checks, a prediction log."""
    try:
        from pydantic import ValidationError

        from scanflow.serve import ServeConfig, ServeSetupError
        from scanflow.serve import serve as run_service
    except ImportError as error:
        raise fail(
            f"serving needs the serve extra ({error.name} is missing): pip install 'scanflow[serve]'"
        ) from None
    try:
        config = ServeConfig(
            model=model,
            rules=rules,
            host=host,
            port=port,
            workers=workers,
            token=token,
            checkers=checker or [],
            check_window=check_window,
            check_ert=check_ert,
            check_queue=check_queue,
            report_s=report_every,
            follow_s=follow_every,
            log_db=log_db,
            log_predictions=not no_log,
            max_body_bytes=max_body_bytes,
            tracking_uri=tracking_uri,
            home=home,
        )
    except ValidationError as error:
        raise fail("; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())) from None
    try:
        run_service(config)
    except ServeSetupError as error:
        raise fail(str(error), code=1) from None
    except KeyboardInterrupt:
        pass


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
            raise fail(f"--option takes KEY=VALUE, got {item!r}")
        options[key.strip()] = yaml.safe_load(value)
    try:
        outcome = check_files(current, reference, detector, options, json_path, report, save_checker)
    except (CheckerError, ImportError) as error:
        raise fail(str(error)) from None
    console.print(result_table(outcome.result))
    console.print(f"[dim]wrote {json_path} and {report}[/]")
    if outcome.result.drifted:
        raise typer.Exit(1)


# ---------------------------------------------------------------- deploying
class _DeployGroup(TyperGroup):
    """`scanflow deploy MODEL ...` deploys (the `up` command); `status` and `rm` are the others."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["up", *args]
        return super().parse_args(ctx, args)


deploy_app = typer.Typer(
    cls=_DeployGroup,
    help="Deploy a model as a prediction service: `scanflow deploy MODEL --backend docker|swarm`;"
    " `scanflow deploy status`, `scanflow deploy rm NAME`.",
    no_args_is_help=True,
)
app.add_typer(deploy_app, name="deploy")
DeployBackendOption = Annotated[
    str | None, typer.Option("--backend", "-b", help="local, docker or swarm (default: all, for status/rm)")
]


@deploy_app.command("up")
def deploy_up(
    model: Annotated[
        str, typer.Argument(help="MLflow model URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/...")
    ],
    backend: Annotated[
        str, typer.Option("--backend", "-b", help="local (a background process), docker or swarm")
    ] = "local",
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="deployment name (default: the model's)")
    ] = None,
    replicas: Annotated[int, typer.Option("--replicas", "-r", min=1, help="copies (swarm)")] = 1,
    port: Annotated[int, typer.Option("--port", "-p", min=0, help="published port; 0 picks one")] = 8080,
    host: Annotated[
        str, typer.Option(help="address to publish on (local, docker); others need a token")
    ] = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="server processes per replica")] = 1,
    token: ServeToken = None,
    checker: Annotated[
        list[str] | None, typer.Option("--checker", help="live checker: FILE.py[:NAME], pkg.mod:NAME, saved")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="read the model from the tracking server and follow its alias")
    ] = False,
    follow_every: Annotated[
        float | None, typer.Option(min=0, help="seconds between registry looks for a moved alias")
    ] = None,
    endpoint_mode: Annotated[
        str | None, typer.Option(help="swarm service discovery: vip or dnsrr (SCANFLOW_SWARM_ENDPOINT_MODE)")
    ] = None,
    publish_mode: Annotated[
        str | None, typer.Option(help="swarm publishing: ingress or host (SCANFLOW_SWARM_PUBLISH_MODE)")
    ] = None,
    cpu: Annotated[
        float | None, typer.Option(help="CPU limit of each replica (default: one per worker)")
    ] = None,
    memory: Annotated[
        str | None,
        typer.Option(help="memory limit of each replica, e.g. 2Gi (default: 512Mi per worker + 512Mi)"),
    ] = None,
    log_db: Annotated[
        str | None, typer.Option(envvar="SCANFLOW_SERVE_LOG_DB", help="prediction log database URL")
    ] = None,
    network: Annotated[str | None, typer.Option(help="an existing Docker network to join as well")] = None,
    requirement: Annotated[
        list[str] | None, typer.Option("--requirement", help="another package for the image (repeat)")
    ] = None,
    ready_timeout: Annotated[str, typer.Option(help="how long the service may take to be ready")] = "5m",
    insecure: Annotated[
        bool, typer.Option("--insecure", help="expose the service beyond this machine without a token")
    ] = False,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Deploy MODEL and wait until it answers; deploying again updates it (rolling, on swarm)."""
    from pydantic import ValidationError

    from scanflow.run.backend import BackendError
    from scanflow.run.docker_engine import slug
    from scanflow.spec.deployment import Deployment

    if name is None:
        from scanflow.serve.registry import ModelSource

        name = slug(ModelSource.parse(model).default_name) if model.strip() else "model"
    settings = {
        "model": model,
        "backend": backend,
        "replicas": replicas,
        "port": port,
        "host": host,
        "workers": workers,
        "checkers": checker or [],
        "follow": follow,
        "follow_every": follow_every,
        "endpoint_mode": endpoint_mode,
        "publish_mode": publish_mode,
        "resources": {"cpu": cpu, "memory": memory},
        "log_db": log_db,
        "network": network,
        "requirements": requirement or [],
        "ready_timeout": ready_timeout,
        "insecure": insecure,
    }
    try:
        deployment = Deployment(name, **settings)
    except ValidationError as error:
        problems = [":".join(filter(None, [".".join(map(str, e["loc"])), e["msg"]])) for e in error.errors()]
        raise fail("; ".join(p.replace("Value error, ", "") for p in problems)) from None
    try:
        status = deployment.deploy(
            token=token,
            tracking_uri=tracking_uri,
            home=home,
            progress=lambda m: console.print(f"[dim]{m}[/]"),
        )
    except (BackendError, ValueError) as error:
        raise fail(str(error), code=1) from None
    except KeyboardInterrupt:
        raise fail("cancelled; a new deployment that was not ready yet was removed", code=130) from None
    where = ", ".join(status.urls) or "(no published endpoint)"
    what = f"{status.model}" + (f" (version {status.version})" if status.version else "")
    verb = "is already up to date" if not status.changed else "is ready"
    console.print(
        f"[green]✔[/] [bold]{status.name}[/] ({status.backend}, {status.replicas} replicas) {verb} at {where}"
        f" serving {what}",
        highlight=False,
    )
    if status.image:
        console.print(f"[dim]image {status.image}; stop it with: scanflow deploy rm {status.name}[/]")


@deploy_app.command("status")
def deploy_status(
    name: Annotated[str | None, typer.Argument(help="deployment name; all when left out")] = None,
    backend: DeployBackendOption = None,
    home: HomeOption = None,
) -> None:
    """List deployments: where they answer, what they serve, how many replicas run."""
    from rich.table import Table

    from scanflow.deploy.deployments import deployment_statuses
    from scanflow.run.backend import BackendError

    try:
        rows, notes = deployment_statuses(name, backend, home)
    except BackendError as error:
        raise fail(str(error), code=1) from None
    for note in notes:
        console.print(f"[dim]{note}[/]", highlight=False)
    if not rows:
        console.print("No deployments" + (f" named '{name}'." if name else "."))
        return
    table = Table(title="Deployments")
    for column in ("name", "backend", "state", "replicas", "model", "version", "url"):
        table.add_column(column)
    for row in rows:
        state = status_text(row.state if row.state != "stopped" else "failed")
        urls = "\n".join(row.urls)
        table.add_row(row.name, row.backend, state, row.replicas, row.model, row.version, urls)
    console.print(table)


@deploy_app.command("rm")
def deploy_rm(
    name: Annotated[str, typer.Argument(help="deployment name", show_default=False)],
    backend: DeployBackendOption = None,
    home: HomeOption = None,
) -> None:
    """Stop a deployment and remove what it made (container or service, network)."""
    from scanflow.deploy.deployments import remove_deployment
    from scanflow.run.backend import BackendError

    try:
        removed = remove_deployment(name, backend, home)
    except (BackendError, LookupError) as error:
        raise fail(str(error), code=1) from None
    console.print(f"[green]✔[/] removed {name} ({', '.join(removed)})")


def main() -> None:
    # The CLI uses no pydantic plugins; skipping their entry-point scan keeps startup short.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        app()
    except BrokenPipeError:  # `scanflow runs | head`
        sys.exit(0)
