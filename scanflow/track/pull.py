"""`scanflow runs pull`: copy a workflow's runs from another MLflow store into the local one.

Container runs are tracked in the workflow's own tracker; pulling copies them
(parameters, tags, every metric's history, artifacts, the run hierarchy) into
the project's store, so `scanflow runs` and the local UI show them. A run
already pulled is skipped, so pulling again only brings what is new.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanflow.home import Home
from scanflow.track.store import (
    PARENT_TAG,
    artifact_location,
    ensure_experiment,
    every_page,
    open_client,
    prepare_store,
)

PULLED_FROM = "scanflow.pulled_from"


@dataclass
class PullReport:
    copied: int = 0
    skipped: int = 0


def pull_runs(source_uri: str, home: Home, experiment: str, target_uri: str | None = None) -> PullReport:
    """Copy the runs of ``experiment`` from ``source_uri`` into the project's store (or ``target_uri``)."""
    from mlflow.entities import Metric, Param, RunTag

    target_uri = target_uri or home.tracking_uri()
    prepare_store(target_uri)
    source, target = open_client(source_uri), open_client(target_uri)
    found = source.get_experiment_by_name(experiment)
    if found is None:
        raise LookupError(f"no experiment '{experiment}' at {source_uri}")
    target_id = ensure_experiment(target, experiment, artifact_location(home, target_uri, experiment))
    pulled = {r.data.tags.get(PULLED_FROM): r.info.run_id for r in _runs(target, target_id)}
    report = PullReport()
    new_ids: dict[str, str] = {}
    for run in sorted(_runs(source, found.experiment_id), key=lambda r: r.info.start_time or 0):
        if run.info.run_id in pulled:
            new_ids[run.info.run_id] = pulled[run.info.run_id]
            report.skipped += 1
            continue
        tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.log-model")}
        if PARENT_TAG in tags:  # parents start earlier, so they were copied first
            tags[PARENT_TAG] = new_ids.get(tags[PARENT_TAG], tags[PARENT_TAG])
        tags[PULLED_FROM] = run.info.run_id
        copy = target.create_run(
            target_id, start_time=run.info.start_time, tags=tags, run_name=run.info.run_name
        )
        new_id = copy.info.run_id
        new_ids[run.info.run_id] = new_id
        metrics = [
            Metric(key, m.value, m.timestamp, m.step)
            for key in run.data.metrics
            for m in source.get_metric_history(run.info.run_id, key)
        ]
        params = [Param(k, v) for k, v in run.data.params.items()]
        for start in range(0, max(len(metrics), 1), 1000):
            target.log_batch(
                new_id, metrics=metrics[start : start + 1000], params=params if start == 0 else []
            )
        target.log_batch(new_id, tags=[RunTag(k, v) for k, v in tags.items()])
        _copy_artifacts(source, target, run.info.run_id, new_id)
        target.set_terminated(new_id, status=run.info.status, end_time=run.info.end_time)
        report.copied += 1
    return report


def _runs(client: Any, experiment_id: str) -> list[Any]:
    from mlflow.entities import ViewType

    def search(token: str | None) -> Any:
        return client.search_runs([experiment_id], run_view_type=ViewType.ACTIVE_ONLY, page_token=token)

    return list(every_page(search))


def _copy_artifacts(source: Any, target: Any, run_id: str, new_id: str) -> None:
    if not source.list_artifacts(run_id):
        return
    with tempfile.TemporaryDirectory() as folder:
        local = source.download_artifacts(run_id, "", folder)
        target.log_artifacts(new_id, str(Path(local)))
