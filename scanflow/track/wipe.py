"""`scanflow wipe`: delete what was tracked, for one workflow or for the whole project.

With the embedded store everything is removed for good (database rows, artifact
files, local run folders). A shared server only soft-deletes runs through its
API; its operator reclaims the space with ``mlflow gc``.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from typing import Any

from scanflow.home import Home, sqlite_file
from scanflow.run.state import RunState, RunStore
from scanflow.track.store import open_client, prepare_store


@dataclass
class WipeReport:
    experiments: list[str] = field(default_factory=list)
    runs: int = 0
    local_runs: int = 0
    permanent: bool = True
    notes: list[str] = field(default_factory=list)


def wipe(home: Home, tracking_uri: str, workflow: str | None = None) -> WipeReport:
    """Delete the tracked runs of ``workflow`` (every workflow when None).

    Raises ``RunInProgress``, deleting nothing, while a Scanflow process still runs one of them.
    """
    _refuse_runs_in_progress(home, workflow)
    report = WipeReport()
    embedded = sqlite_file(tracking_uri)
    if workflow is None and embedded is not None and embedded.parent == home.root:
        return _wipe_project(home, embedded, report)
    if embedded is not None and not embedded.exists():
        report.local_runs = _remove_local_runs(home, workflow)
        return report
    prepare_store(tracking_uri)  # a dead server is named now, not after MLflow's minutes of retries
    client = open_client(tracking_uri)
    experiments = _experiments(client, workflow)
    store = client._tracking_client.store  # hard deletes exist only on SQL stores
    hard = hasattr(store, "_hard_delete_run") and embedded is not None
    report.permanent = hard
    for experiment in experiments:
        report.experiments.append(experiment.name)
        for run in _all_runs(client, experiment.experiment_id):
            _delete_artifacts(run.info.artifact_uri)
            if hard:
                store._hard_delete_run(run.info.run_id)
            elif run.info.lifecycle_stage != "deleted":
                client.delete_run(run.info.run_id)
            report.runs += 1
        if experiment.lifecycle_stage != "deleted":
            client.delete_experiment(experiment.experiment_id)
        if hard:  # like `mlflow gc`: a soft delete first, then the rows go
            store._hard_delete_experiment(experiment.experiment_id)
        if experiment.artifact_location:
            _delete_artifacts(experiment.artifact_location)
    if not hard:
        report.notes.append("the server keeps soft-deleted runs until its operator runs `mlflow gc`")
    report.local_runs = _remove_local_runs(home, workflow)
    return report


def _wipe_project(home: Home, database: Any, report: WipeReport) -> WipeReport:
    if database.exists():
        report.experiments.append("(all)")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            database.with_name(database.name + suffix).unlink()
    shutil.rmtree(home.artifacts_dir, ignore_errors=True)
    report.local_runs = len(RunStore(home.runs_dir).recent())
    shutil.rmtree(home.runs_dir, ignore_errors=True)
    shutil.rmtree(home.cache_dir, ignore_errors=True)
    return report


def _experiments(client: Any, workflow: str | None) -> list[Any]:
    from mlflow.entities import ViewType

    experiments = client.search_experiments(view_type=ViewType.ALL)
    if workflow is None:
        return [e for e in experiments if e.name != "Default"]
    return [e for e in experiments if e.name == workflow]


def _all_runs(client: Any, experiment_id: str) -> list[Any]:
    from mlflow.entities import ViewType

    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], run_view_type=ViewType.ALL, max_results=1000, page_token=token
        )
        runs += list(page)
        token = page.token
        if not token:
            return runs


def _delete_artifacts(uri: str | None) -> None:
    if not uri:
        return
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    with contextlib.suppress(Exception):  # already gone, or the store does not allow deletes
        get_artifact_repository(uri).delete_artifacts()


def _refuse_runs_in_progress(home: Home, workflow: str | None) -> None:
    from scanflow.run.leftovers import RunInProgress, in_progress

    busy = []
    for directory in RunStore(home.runs_dir).recent():
        with contextlib.suppress(OSError, ValueError, KeyError):
            state = RunState.load(directory)
            mine = workflow is None or state.workflow == workflow
            if mine and in_progress(state):
                busy.append(f"{state.run_id} ('{state.workflow}', process {state.owner['pid']})")
    if busy:
        raise RunInProgress(
            f"still running: {', '.join(busy)}. Wait for them to end or stop them (Ctrl-C), then wipe;"
            " nothing was deleted"
        )


def _remove_local_runs(home: Home, workflow: str | None) -> int:
    removed = 0
    for directory in RunStore(home.runs_dir).recent():
        try:
            name = RunState.load(directory).workflow
        except (OSError, ValueError, KeyError):
            continue
        if workflow is None or name == workflow:
            shutil.rmtree(directory, ignore_errors=True)
            removed += 1
    return removed
