"""Running a workflow end to end: validate, prepare, schedule, track, report.

``run_workflow`` and ``resume_run`` are what the CLI and ``Workflow.run`` call;
they wire the spec, a backend, the scheduler, the console and the tracker.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from scanflow.graph import Graph
from scanflow.home import Home
from scanflow.run.backend import Backend
from scanflow.run.backends import make_backend
from scanflow.run.cache import StepCache
from scanflow.run.capacity import Capacity
from scanflow.run.console import ConsoleView
from scanflow.run.edits import source_file, steps_to_rerun, workflow_to_resume
from scanflow.run.leftovers import process_ref, settle_interrupted
from scanflow.run.lifeline import Lifeline
from scanflow.run.listener import RunListener
from scanflow.run.result import RunResult
from scanflow.run.scheduler import Scheduler
from scanflow.run.state import RunState, RunStore, mark_unfinished
from scanflow.run.status import RunStatus, StepStatus
from scanflow.spec.workflow import Workflow


@dataclass
class RunOptions:
    """How to run: every keyword of ``run_workflow`` and ``resume_run``."""

    backend: str | Backend | None = None  # "local" (default), "docker", "swarm", or a Backend
    tracking_uri: str | None = None  # default: SCANFLOW_TRACKING_URI, else the embedded SQLite store
    track: bool = True  # record the run in MLflow
    max_parallel: int | None = None  # most steps at once (besides the resources they declare)
    fail_fast: bool = False  # stop everything at the first failure
    home: str | Path | None = None  # project folder for runs (default: ./.scanflow)
    console: Console | None = None  # where to show the run
    stream_logs: bool = True  # print step output as it comes (always kept in log files)
    live: bool | None = None  # live table (default: when the console is a terminal)


def run_workflow(
    workflow: Workflow | str | Path, targets: list[str] | None = None, **options: Any
) -> RunResult:
    """Run a workflow (an object or a YAML path) and return its result.

    ``targets`` (step paths such as ``train/svm``, or nested workflows) runs only
    them and what they depend on; ``scanflow resume`` later runs the rest.
    Other keywords are the fields of ``RunOptions``. Raises ``SpecError`` for an invalid
    spec, ``BackendError`` when the backend cannot run it and ``TrackingError``
    when the tracking server is unreachable, all before any step starts. Step
    failures do not raise: they are in the result (``result.ok``, ``result.steps``).
    """
    opts = RunOptions(**options)
    if not isinstance(workflow, Workflow):
        workflow = Workflow.from_yaml(workflow)
    workflow.validate_spec()
    graph = Graph.from_workflow(workflow)
    project = Home.resolve(opts.home)
    engine = make_backend(opts.backend or "local", max_parallel=opts.max_parallel)
    keys = graph.needed_for(targets) if targets else list(graph.steps)
    engine.check_capacity(graph.subset(keys))
    _check_tracking(project, opts.tracking_uri, opts.track)
    spec_yaml = workflow.to_yaml()
    state = RunStore(project.runs_dir).create(workflow.name, spec_yaml, graph.base_dir, engine.name)
    state.spec_file = source_file(workflow, spec_yaml)
    return _execute(state, graph, keys, engine, project, opts)


def resume_run(run_id: str | None = None, original: bool = False, **options: Any) -> RunResult:
    """Rerun the steps of ``run_id`` (the project's latest run by default) that failed, were skipped,
    cancelled or never ran.

    The workflow file is read again, so fixes to it count: steps whose
    definition changed (and new ones) rerun too, with what depends on them.
    ``original`` resumes the workflow as the run had it. The run keeps its id,
    data directory and MLflow runs; other keywords as ``run_workflow``.
    """
    opts = RunOptions(**options)
    project = Home.resolve(opts.home)
    store = RunStore(project.runs_dir)
    console = opts.console or Console()
    if run_id is None:
        latest = store.recent(1)
        if not latest:
            raise LookupError(f"no runs to resume in {project.runs_dir}: start one with `scanflow run`")
        run_id = latest[0].name
        console.print(f"Resuming the latest run, {run_id}", markup=False)
    state = store.load(run_id)
    for note in settle_interrupted(state):
        console.print(note, markup=False)
    workflow, edits = workflow_to_resume(state, original)
    graph = Graph.from_workflow(workflow)
    keys = steps_to_rerun(graph, state, edits)
    engine = make_backend(opts.backend or state.backend, max_parallel=opts.max_parallel)
    if edits:
        console.print(f"{edits.describe()}: those steps and what depends on them rerun", markup=False)
    elif edits.gone:
        console.print(f"{edits.gone} is gone: resuming the workflow as the run had it", markup=False)
    if not keys:
        console.print(f"Nothing to resume: every step of run {state.run_id} succeeded.")
        return RunResult(state, [])
    engine.check_capacity(graph.subset(keys))
    opts.tracking_uri = opts.tracking_uri or state.tracking_uri
    _check_tracking(project, opts.tracking_uri, opts.track)
    if edits:
        state.spec_yaml = workflow.to_yaml()
        for key in edits.removed:
            state.steps.pop(key, None)
    state.resumes += 1
    state.resumed_at = time.time()
    return _execute(state, graph, keys, engine, project, opts)


def _execute(
    state: RunState, graph: Graph, keys: list[str], engine: Backend, project: Home, opts: RunOptions
) -> RunResult:
    with Lifeline(state.run_id, engine.name, log_dir=state.directory) as lifeline:  # in case of a kill -9
        return _execute_watched(state, graph, keys, engine, project, opts, lifeline)


def _execute_watched(
    state: RunState,
    graph: Graph,
    keys: list[str],
    engine: Backend,
    project: Home,
    opts: RunOptions,
    lifeline: Lifeline,
) -> RunResult:
    if any(step.deployment is not None for step in graph):
        from scanflow.deploy.step import DeployingBackend  # Deployment steps are deployed from the host

        engine = DeployingBackend(engine, project)
    view = ConsoleView(opts.console, stream_logs=opts.stream_logs, live=opts.live)
    listeners: list[RunListener] = [view]
    recorder = None
    uri = project.tracking_uri(opts.tracking_uri) if opts.track else None
    server = uri if uri is not None and uri.startswith(("http://", "https://")) else None
    try:
        uri = engine.open_run(state, uri, view.console.print) or uri
    except BaseException as error:
        engine.close()
        mark_unfinished(state, StepStatus.CANCELLED, f"not started: {error}")
        state.status = RunStatus.FAILED
        state.save()
        raise
    if uri is not None:
        from scanflow.track.recorder import MlflowRecorder

        recorder = MlflowRecorder(uri, project)
        recorder.start()
        listeners.append(recorder)

    for key in keys:
        state.step(key)
    state.owner = process_ref()  # a listing or a resume can tell when this process dies mid-run
    try:
        with _sigterm_as_interrupt():
            try:
                with view.console.status("Preparing environments…"):
                    env_hashes = engine.prepare(graph.subset(keys), graph.base_dir, view.console.print)
            except KeyboardInterrupt:
                mark_unfinished(state, StepStatus.CANCELLED, "cancelled while preparing environments")
                state.status = RunStatus.CANCELLED
                state.save()
                raise
            except Exception as error:
                mark_unfinished(state, StepStatus.CANCELLED, f"not started: {error}")
                state.status = RunStatus.FAILED
                state.save()
                raise
            for listener in listeners:
                listener.run_started(state, graph, keys)
            scheduler = Scheduler(
                graph,
                engine,
                state,
                listeners,
                capacity=engine.capacity or Capacity.of_host(),
                env_hashes=env_hashes,
                cache=StepCache(project.cache_dir),
                fail_fast=opts.fail_fast,
                lifeline=lifeline,
            )
            scheduler.run(keys)
            for listener in listeners:
                listener.run_finished(state)
    finally:
        if recorder is not None:  # first: the backend may host the tracker (`open_run`)
            _flush(recorder, view.console)
            if uri == server and state.mlflow_run_id:  # the user's own server, not one the backend hosted
                view.console.print(f"[dim]MLflow: {_run_page(uri, state)}[/]", highlight=False)
        engine.close()
    return RunResult(state, recorder.warnings if recorder else [])


def _check_tracking(project: Home, tracking_uri: str | None, track: bool) -> None:
    """An unreachable tracking server is an error before anything starts."""
    if track:
        from scanflow.track.store import require_reachable

        require_reachable(project.tracking_uri(tracking_uri))


def _run_page(server: str, state: RunState) -> str:
    """The run's page in the MLflow UI of ``server``."""
    return f"{server.rstrip('/')}/#/experiments/{state.mlflow_experiment_id}/runs/{state.mlflow_run_id}"


def _flush(recorder, console: Console) -> None:  # noqa: ANN001 - MlflowRecorder, imported lazily
    """Wait for the recorder, saying how much is left while a large run's steps are written."""
    if not recorder.pending():
        recorder.close()
    else:
        closing = threading.Thread(target=recorder.close, name="recorder-close", daemon=True)

        def left() -> str:
            return f"Saving the run to MLflow ({recorder.tracking_uri}): {recorder.pending()} step(s) to go…"

        with console.status(left()) as status:
            closing.start()
            while closing.is_alive():
                closing.join(0.2)
                status.update(left())
    for warning in recorder.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so both stop every step and record the run as cancelled."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
