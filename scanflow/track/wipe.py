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
from scanflow.track.store import every_page, open_client, prepare_store


@dataclass
class WipeReport:
    experiments: list[str] = field(default_factory=list)
    runs: int = 0
    local_runs: int = 0
    permanent: bool = True
    notes: list[str] = field(default_factory=list)
    model_versions: list[str] = field(default_factory=list)  # "name/version" deleted with the runs


class ModelsWouldBreak(RuntimeError):
    """Registered model versions keep their files in the runs a wipe would delete."""


def wipe(home: Home, tracking_uri: str, workflow: str | None = None, models: bool = False) -> WipeReport:
    """Delete the tracked runs of ``workflow`` (every workflow when None).

    A registered model version logged by one of those runs keeps its files
    there: deleting them would leave the registry naming a model nobody can
    load (serving it, or a deployment following its alias, would fail). So
    such versions are deleted too when ``models`` is set; otherwise
    ``ModelsWouldBreak`` names them and nothing is deleted. Raises
    ``RunInProgress``, deleting nothing, while a Scanflow process still runs one of them.
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
    plan = [
        (experiment, _all_runs(client, experiment.experiment_id))
        for experiment in _experiments(client, workflow)
    ]
    versions = _registered_versions(client, {run.info.run_id for _, runs in plan for run in runs})
    if versions and not models:
        raise ModelsWouldBreak(
            f"registered model version(s) {_describe(versions)} keep their files in these runs: without"
            " them the registry would name models nobody can load. Pass --models to delete those versions"
            " too (a registered model left without versions goes as well); nothing was deleted"
        )
    report.model_versions = _delete_versions(client, versions)
    store = client._tracking_client.store  # hard deletes exist only on SQL stores
    hard = hasattr(store, "_hard_delete_run") and embedded is not None
    report.permanent = hard
    for experiment, runs in plan:
        report.experiments.append(experiment.name)
        for run in runs:
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

    def search(token: str | None) -> Any:
        return client.search_runs(
            [experiment_id], run_view_type=ViewType.ALL, max_results=1000, page_token=token
        )

    return list(every_page(search))


def _registered_versions(client: Any, run_ids: set[str]) -> list[Any]:
    """The registered model versions that runs ``run_ids`` logged."""
    if not run_ids:
        return []
    found = every_page(lambda token: client.search_model_versions(max_results=1000, page_token=token))
    # Read one by one: a search leaves out the aliases, which say what serves the version.
    return [client.get_model_version(v.name, v.version) for v in found if v.run_id in run_ids]


def _describe(versions: list[Any]) -> str:
    def one(version: Any) -> str:
        aliases = list(getattr(version, "aliases", None) or [])
        return f"{version.name}/{version.version}" + (f" (alias {', '.join(aliases)})" if aliases else "")

    return ", ".join(one(v) for v in versions)


def _delete_versions(client: Any, versions: list[Any]) -> list[str]:
    """Delete ``versions``, and each registered model they leave empty; the versions deleted."""
    deleted = []
    for version in versions:
        client.delete_model_version(version.name, version.version)
        deleted.append(f"{version.name}/{version.version}")
    for name in sorted({v.name for v in versions}):
        if not client.search_model_versions(f"name='{name}'", max_results=1):
            client.delete_registered_model(name)
    return deleted


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
