"""Reading tracked workflow runs back from MLflow: lists and run trees."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from scanflow.track.store import (
    PARENT_TAG,
    TAG_KIND,
    TAG_NODE,
    TAG_REASON,
    TAG_RUN_ID,
    TAG_STATUS,
    TAG_WORKFLOW,
)

_LISTED = f"tags.`{TAG_KIND}` = 'workflow'"


@dataclass
class RunNode:
    """One MLflow run in a workflow run's tree (the workflow, a nested workflow, a step)."""

    run: Any  # mlflow.entities.Run
    children: list[RunNode] = field(default_factory=list)
    earlier: list[RunNode] = field(default_factory=list)  # older attempts of the same step (resumes)
    known_status: str | None = None  # what the host knows better than MLflow ("interrupted")

    @property
    def name(self) -> str:
        return self.run.info.run_name

    @property
    def kind(self) -> str:
        return self.run.data.tags.get(TAG_KIND, "")

    @property
    def status(self) -> str:
        return self.known_status or self.run.data.tags.get(TAG_STATUS) or self.run.info.status.lower()

    @property
    def reason(self) -> str | None:
        """Why a step failed, was skipped or cancelled (None when it succeeded)."""
        return self.run.data.tags.get(TAG_REASON) or None

    @property
    def duration(self) -> float | None:
        info = self.run.info
        if info.start_time is None or info.end_time is None:
            return None
        return (info.end_time - info.start_time) / 1000

    @property
    def metrics(self) -> dict[str, float]:
        return {k: v for k, v in self.run.data.metrics.items() if not k.startswith("scanflow.")}

    @property
    def params(self) -> dict[str, str]:
        return dict(self.run.data.params)

    def walk(self):  # noqa: ANN201
        yield self
        for child in self.children:
            yield from child.walk()

    def summary(self) -> dict[str, Any]:
        """What `scanflow runs` lists of a workflow run, as plain data (times in ISO 8601, UTC)."""
        info = self.run.info
        return {
            "run_id": self.run.data.tags.get(TAG_RUN_ID),
            "workflow": workflow_of(self.run),
            "status": self.status,
            "started": _iso(info.start_time),
            "ended": _iso(info.end_time),
            "duration_s": self.duration,
            "mlflow_run_id": info.run_id,
            "experiment_id": info.experiment_id,
        }

    def to_json(self) -> dict[str, Any]:
        """The run and everything below it as plain data (`scanflow runs show --json`)."""
        return {
            **self.summary(),
            "name": self.name,
            "kind": self.kind,
            "node": self.run.data.tags.get(TAG_NODE),
            "reason": self.reason,
            "params": self.params,
            "metrics": self.metrics,
            "earlier_attempts": [earlier.run.info.run_id for earlier in self.earlier],
            "children": [child.to_json() for child in self.children],
        }


def _iso(milliseconds: int | None) -> str | None:
    if milliseconds is None:
        return None
    return datetime.datetime.fromtimestamp(milliseconds / 1000, tz=datetime.UTC).isoformat()


def list_workflow_runs(
    client: Any, workflow: str | None = None, limit: int = 50, status: str | None = None
) -> list[Any]:
    """Workflow runs, newest first (``scanflow runs``); ``status``: running, succeeded, failed, cancelled."""
    if workflow is not None:
        experiment = client.get_experiment_by_name(workflow)
        if experiment is None:
            return []
        experiment_ids = [experiment.experiment_id]
    else:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
    if not experiment_ids:
        return []
    wanted = _LISTED
    if status == "running":  # the status tag is written when a run ends
        wanted += " and attributes.status = 'RUNNING'"
    elif status is not None:
        wanted += f" and tags.`{TAG_STATUS}` = '{status}'"
    return list(
        client.search_runs(
            experiment_ids, filter_string=wanted, order_by=["attributes.start_time DESC"], max_results=limit
        )
    )


def find_workflow_run(client: Any, identifier: str) -> Any:
    """A workflow run by Scanflow run id (or its prefix) or by MLflow run id."""
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    if experiment_ids:
        runs = client.search_runs(
            experiment_ids, filter_string=f"{_LISTED} and tags.`{TAG_RUN_ID}` LIKE '{identifier}%'"
        )
        if len(runs) == 1:
            return runs[0]
        if len(runs) > 1:
            ids = ", ".join(r.data.tags[TAG_RUN_ID] for r in runs)
            raise LookupError(f"'{identifier}' matches several runs: {ids}")
    try:
        return client.get_run(identifier)
    except Exception:
        raise LookupError(f"no tracked workflow run '{identifier}' (see `scanflow runs`)") from None


def run_tree(client: Any, workflow_run: Any) -> RunNode:
    """The workflow run with its nested workflow and step runs below it."""
    scanflow_id = workflow_run.data.tags.get(TAG_RUN_ID)
    experiment = workflow_run.info.experiment_id
    if scanflow_id:
        members = client.search_runs(
            [experiment], filter_string=f"tags.`{TAG_RUN_ID}` = '{scanflow_id}'", max_results=50000
        )
    else:
        members = [workflow_run]
    nodes = {r.info.run_id: RunNode(r) for r in members}
    nodes.setdefault(workflow_run.info.run_id, RunNode(workflow_run))
    for node in nodes.values():
        parent = node.run.data.tags.get(PARENT_TAG)
        if parent in nodes and node.run.info.run_id != workflow_run.info.run_id:
            nodes[parent].children.append(node)
    for node in nodes.values():
        node.children = _latest_attempts(node.children)
    return nodes[workflow_run.info.run_id]


def _latest_attempts(children: list[RunNode]) -> list[RunNode]:
    """One entry per step: its newest run, with the runs of earlier resumes attached."""
    children.sort(key=lambda n: n.run.info.start_time or 0)
    latest: dict[str, RunNode] = {}
    for child in children:
        key = child.run.data.tags.get(TAG_NODE, child.run.info.run_id)
        if key in latest:
            child.earlier = [*latest[key].earlier, latest[key]]
        latest[key] = child
    return sorted(latest.values(), key=lambda n: min(r.run.info.start_time or 0 for r in [n, *n.earlier]))


def workflow_of(run: Any) -> str:
    return run.data.tags.get(TAG_WORKFLOW, "")
