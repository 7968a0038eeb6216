"""Commands on a workflow file: validate it, run it (and resume a run), draw it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from scanflow.cli.common import (
    HomeOption,
    TrackingUri,
    WorkflowFile,
    console,
    fail,
    load_run,
    load_workflow,
)

if TYPE_CHECKING:
    from scanflow.run.result import RunResult


def validate(workflow: WorkflowFile = Path(".")) -> None:
    """Check a workflow file (fields, edges, cycles, files) without running it."""
    spec = load_workflow(workflow)
    from scanflow.graph import Graph
    from scanflow.spec.yaml_io import workflow_file

    graph = Graph.from_workflow(spec)
    for note in graph.unwritten_inputs():
        console.print(f"[yellow]warning:[/] {escape(note)}")
    console.print(
        f"[green]✔[/] {escape(str(workflow_file(workflow)))}: workflow [bold]{spec.name}[/] is valid —"
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
) -> dict[str, Any]:
    """The keywords of `run_workflow` and `resume_run`, which take the same options."""
    return {
        "tracking_uri": tracking_uri,
        "track": not no_track,
        "max_parallel": max_parallel,
        "fail_fast": fail_fast,
        "home": home,
        "console": console,
        "stream_logs": not quiet,
    }


def run(
    workflow: WorkflowFile = Path("."),
    backend: Annotated[
        str, typer.Option("--backend", "-b", help="where steps run: local, docker, swarm")
    ] = "local",
    max_parallel: MaxParallel = None,
    fail_fast: FailFast = False,
    tracking_uri: TrackingUri = None,
    no_track: NoTrack = False,
    quiet: Quiet = False,
    home: HomeOption = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="a parameter for this run: STEP.PARAMETER=VALUE (repeat)"),
    ] = None,
    targets: Annotated[
        list[str] | None,
        typer.Option(
            "--target", "-t", help="run only this step (or nested workflow) and what it needs (repeat)"
        ),
    ] = None,
) -> None:
    """Run a workflow: each step in its environment, tracked in MLflow."""
    spec = load_workflow(workflow)
    if settings:
        from scanflow.spec import SpecError
        from scanflow.spec.overrides import apply_overrides

        try:
            apply_overrides(spec, settings)
        except SpecError as error:
            raise fail(str(error)) from None
    from scanflow.run.runner import run_workflow

    options = _run_options(tracking_uri, no_track, max_parallel, fail_fast, home, quiet)
    _finish(lambda: run_workflow(spec, targets=targets, backend=backend, **options))


def resume(
    run_id: Annotated[
        str | None,
        typer.Argument(help="run id (or a unique prefix) from `scanflow runs`; the latest run when left out"),
    ] = None,
    max_parallel: MaxParallel = None,
    fail_fast: FailFast = False,
    tracking_uri: TrackingUri = None,
    no_track: NoTrack = False,
    quiet: Quiet = False,
    home: HomeOption = None,
    original: Annotated[
        bool, typer.Option("--original", help="ignore edits to the workflow file since the run")
    ] = False,
) -> None:
    """Rerun the steps of a run that failed, were skipped or never ran, or that the workflow file changed."""
    from scanflow.run.runner import resume_run

    options = _run_options(tracking_uri, no_track, max_parallel, fail_fast, home, quiet)
    _finish(lambda: resume_run(run_id, original=original, **options))


def _finish(start: Callable[[], RunResult]) -> None:
    """Run, then turn the outcome into an exit code: 0 ok, 1 failed, 130 cancelled."""
    from scanflow.run.backend import BackendError
    from scanflow.run.envs import EnvBuildError
    from scanflow.run.leftovers import RunInProgress
    from scanflow.run.status import RunStatus
    from scanflow.spec import SpecError
    from scanflow.track.store import TrackingError

    try:
        result = start()
    except TrackingError as error:
        raise fail(f"{error} Or run without recording it: --no-track.", code=1) from None
    except (SpecError, BackendError, EnvBuildError, LookupError, RunInProgress) as error:
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


def graph(
    workflow: WorkflowFile = Path("."),
    output: Annotated[
        Path, typer.Option("--output", "-o", help="file to write: .svg, .dot, .png, .pdf")
    ] = Path("workflow.svg"),
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run", "-r", help="draw this run instead: its workflow, each step coloured by how it did"
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Draw a workflow's DAG, nested workflows as boxes (Graphviz when installed); or a run's outcome."""
    from scanflow.graph_render import write_picture

    statuses = None
    if run_id is not None:
        state = load_run(run_id, home)
        spec, statuses = state.recorded_workflow(), state.statuses()
    else:
        spec = load_workflow(workflow)
    try:
        write_picture(spec.graph(), output, statuses)
    except (ValueError, RuntimeError) as error:
        raise fail(str(error)) from None
    console.print(f"[green]✔[/] wrote {escape(str(output))}")
