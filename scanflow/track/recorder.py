"""Records a workflow run in MLflow while it runs, without slowing the steps.

One workflow run is an MLflow run in the workflow's experiment; each nested
workflow a child run under it; each step a child run of its innermost
workflow, tagged with its status, duration, exit code and environment, with its
parameters, log, outputs and whatever it logged.

All MLflow work happens on one background thread fed by a queue, so importing
MLflow and writing runs overlaps with running the steps. A step whose code uses
MLflow itself gets its run as it starts (``MLFLOW_RUN_ID``, see
``scanflow.track.live``), so plain ``mlflow.log_metric`` lands there and the
run's start time is the step's; that job goes ahead of the queue, so a step
never waits behind other steps' records. Other steps are recorded when they end.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

from scanflow.graph import Graph, Step
from scanflow.home import Home
from scanflow.log import ARTIFACTS_DIR, TRACKING_FILE, read_tracking_records
from scanflow.run.listener import RunListener
from scanflow.run.state import RunState
from scanflow.run.status import RunStatus, StepRecord, StepStatus
from scanflow.track import store
from scanflow.track.live import wants_live_run
from scanflow.track.store import (
    PARENT_TAG,
    TAG_KIND,
    TAG_NODE,
    TAG_REASON,
    TAG_RUN_ID,
    TAG_STATUS,
    TAG_WORKFLOW,
    quiet_mlflow,
)

_MLFLOW_STATUS = {
    StepStatus.DONE: "FINISHED",
    StepStatus.CACHED: "FINISHED",
    StepStatus.FAILED: "FAILED",
    StepStatus.SKIPPED: "KILLED",
    StepStatus.CANCELLED: "KILLED",
}
_RUN_STATUS = {RunStatus.SUCCEEDED: "FINISHED", RunStatus.FAILED: "FAILED", RunStatus.CANCELLED: "KILLED"}
_PARAM_LIMIT = 6000
STREAM_EVERY = 5.0  # seconds between uploads of what running steps logged
UPLOADED = "tracked_bytes"  # in a StepRecord's extra: bytes of its tracking file already in MLflow
_URGENT, _NORMAL, _LAST = 0, 1, 2  # job priorities: a step waiting to start goes first


class MlflowRecorder(RunListener):
    def __init__(
        self, tracking_uri: str, home: Home, experiment: str | None = None, stream_every: float | None = None
    ):
        self.tracking_uri = tracking_uri
        # MLflow prints a "View run" link per run it ends; the runner prints the workflow run's once.
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self.stream_every = stream_every or STREAM_EVERY
        self.home = home
        self.experiment_name = experiment
        self.warnings: list[str] = []
        self._jobs: queue.PriorityQueue[tuple[int, int, Callable[[], None] | None]] = queue.PriorityQueue()
        self._order = itertools.count()  # first come, first served within a priority
        self._thread = threading.Thread(target=self._work, name="mlflow-recorder", daemon=True)
        self._client: Any = None
        self._ready: Future[None] = Future()
        self._live_keys: set[str] = set()  # steps whose code logs to MLflow itself
        self._live: dict[str, Future[str]] = {}
        self._opened: dict[str, str] = {}  # step -> run opened while it ran, to stream its metrics
        self._offsets: dict[str, int] = {}  # step -> bytes of its tracking file already uploaded
        self._earlier: list[tuple[Step, StepRecord, int, int]] = []  # see _earlier_attempts
        self._state: RunState | None = None
        self._graph: Graph | None = None
        self._begun = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Begin importing MLflow and opening the store now, in the background."""
        self._thread.start()
        self._submit(self._open, _URGENT)

    def _work(self) -> None:
        while True:
            try:
                _, _, job = self._jobs.get(timeout=self.stream_every)
            except queue.Empty:
                job = self._stream_running
            if job is None:
                return
            try:
                job()
            except Exception as error:  # tracking trouble must never stop the workflow
                self._warn(f"tracking: {type(error).__name__}: {error}")

    def _warn(self, message: str) -> None:
        """Keep each distinct problem once: a broken store fails every job the same way."""
        if message not in self.warnings:
            self.warnings.append(message)

    def _submit(self, job: Callable[[], None] | None, priority: int = _NORMAL) -> None:
        self._jobs.put((priority, next(self._order), job))

    def close(self, timeout: float | None = None) -> None:
        """Wait until everything is written to MLflow."""
        self._submit(None, _LAST)
        self._thread.join(timeout)

    def pending(self) -> int:
        return self._jobs.qsize()

    def _open(self) -> None:
        try:
            quiet_mlflow()
            store.prepare_store(self.tracking_uri)
            self._client = store.open_client(self.tracking_uri)
        except Exception as error:
            self._ready.set_exception(error)
            raise
        self._ready.set_result(None)

    # ---------------------------------------------------------------- hooks
    def run_started(self, state: RunState, graph: Graph, keys: list[str]) -> None:
        self._state, self._graph = state, graph
        self._live_keys = {k for k in keys if wants_live_run(graph.steps[k], graph.base_dir)}
        self._earlier = self._earlier_attempts(state, graph)  # before any step writes again
        self._submit(lambda: self._begin(state, graph), _URGENT)

    def _earlier_attempts(self, state: RunState, graph: Graph) -> list[tuple[Step, StepRecord, int, int]]:
        """What steps logged in an earlier attempt of the run that never reached MLflow.

        A killed Scanflow uploads nothing more: those records go to the attempt's
        own run, closed as killed. Either way this attempt's runs start after
        them, so a rerun's metrics and parameters are its own.
        """
        pending = []
        for key, step in graph.steps.items():
            record = state.steps.get(key)
            try:
                size = (state.node_dir(key) / TRACKING_FILE).stat().st_size
            except OSError:
                continue
            self._offsets[key] = size
            if record is None:
                continue
            # A record from before UPLOADED was kept: tracked in full once it had a run.
            uploaded = record.extra.get(UPLOADED, size if record.mlflow_run_id else 0)
            if size > uploaded:
                pending.append((step, replace(record), uploaded, size))
            record.extra[UPLOADED] = size
        return pending

    def step_environment(self, step: Step, record: StepRecord) -> dict[str, str]:
        env = {"MLFLOW_TRACKING_URI": self.tracking_uri}
        assert self._state is not None
        env["MLFLOW_EXPERIMENT_NAME"] = self._experiment_name(self._state)
        if step.key in self._live_keys and step.key not in self._live:
            self._live[step.key] = Future()
            self._submit(lambda: self._create_live_run(step.key), _URGENT)
        future = self._live.get(step.key)
        if future is not None:
            try:
                env["MLFLOW_RUN_ID"] = future.result(timeout=300)
            except Exception as error:
                self._warn(f"tracking: no MLflow run for '{step.key}': {error}")
            if self._state.mlflow_experiment_id:
                env["MLFLOW_EXPERIMENT_ID"] = self._state.mlflow_experiment_id
        return env

    def step_finished(self, step: Step, record: StepRecord) -> None:
        snapshot = replace(record)
        self._submit(lambda: self._record_step(step, snapshot))

    def run_finished(self, state: RunState) -> None:
        self._submit(lambda: self._end(state))

    # ------------------------------------------------------------ MLflow work
    def _experiment_name(self, state: RunState) -> str:
        return self.experiment_name or state.workflow

    def _begin(self, state: RunState, graph: Graph) -> None:
        self._ready.result()
        client = self._client
        name = self._experiment_name(state)
        location = store.artifact_location(self.home, self.tracking_uri, name)
        state.mlflow_experiment_id = store.ensure_experiment(client, name, location)
        state.tracking_uri = self.tracking_uri
        common = {TAG_RUN_ID: state.run_id, TAG_WORKFLOW: state.workflow}
        resumed = state.mlflow_run_id is not None
        if resumed:  # a resume continues the same MLflow runs
            for run_id in [state.mlflow_run_id, *state.mlflow_workflow_runs.values()]:
                client.update_run(run_id, status="RUNNING")
            client.log_text(state.mlflow_run_id, state.spec_yaml, "workflow.yaml")  # edited since, maybe
        else:
            parent = client.create_run(
                state.mlflow_experiment_id,
                run_name=f"{state.workflow}-{state.run_id}",
                start_time=int(state.created_at * 1000),
                tags={**common, TAG_KIND: "workflow", "scanflow.backend": state.backend},
            )
            state.mlflow_run_id = parent.info.run_id
            client.log_text(state.mlflow_run_id, state.spec_yaml, "workflow.yaml")
        if resumed or self._earlier:
            self._settle_earlier_attempts(state, resumed)
        state.save()
        self._begun = True

    def _settle_earlier_attempts(self, state: RunState, resumed: bool) -> None:
        """Close the step runs an interrupted attempt left "running", with what it logged last.

        A step that logged but never got a run (its Scanflow was killed first)
        gets one now, closed as killed: the attempt stays visible, apart from
        the rerun.
        """
        before = int((state.resumed_at or time.time()) * 1000)
        found = (
            self._client.search_runs(
                [state.mlflow_experiment_id],
                filter_string=(
                    f"tags.`{TAG_RUN_ID}` = '{state.run_id}' and tags.`{TAG_KIND}` = 'step'"
                    " and attributes.status = 'RUNNING'"
                ),
            )
            if resumed
            else []
        )
        abandoned = {
            run.data.tags.get(TAG_NODE): run.info.run_id
            for run in found
            if run.info.start_time is not None and run.info.start_time < before
        }
        for step, record, start, end in self._earlier:
            records, _ = read_tracking_records(state.node_dir(step.key), start, end)
            stamps = [r["timestamp"] / 1000 for r in records if "timestamp" in r] or [time.time()]
            run_id = abandoned.pop(step.key, None) or self._new_step_run(
                step, record.started_at or min(stamps), self._step_tags(record)
            )
            self._log(run_id, records, params={}, tags={})
            ended = record.ended_at or max(stamps)  # a killed attempt's last sign of life
            status = _MLFLOW_STATUS.get(record.status, "KILLED")  # one that ended before the kill says how
            self._client.set_terminated(run_id, status=status, end_time=int(ended * 1000))
        for run_id in abandoned.values():
            self._client.set_terminated(run_id, status="KILLED")

    def _workflow_run(self, path: str) -> str:
        """The MLflow run of a nested workflow, created when its first step is recorded.

        It starts when the earliest of its steps started, so its duration is true
        even though tracking runs behind the steps.
        """
        assert self._state is not None and self._graph is not None
        state = self._state
        if path in state.mlflow_workflow_runs:
            return state.mlflow_workflow_runs[path]
        enclosing = path.rsplit("/", 1)[0] if "/" in path else None
        parent = self._workflow_run(enclosing) if enclosing else state.mlflow_run_id
        starts = [r.started_at for k, r in state.steps.items() if k.startswith(path + "/") and r.started_at]
        run = self._client.create_run(
            state.mlflow_experiment_id,
            run_name=self._graph.nested[path].name,
            start_time=int(min(starts, default=time.time()) * 1000),
            tags={
                TAG_RUN_ID: state.run_id,
                TAG_WORKFLOW: state.workflow,
                TAG_KIND: "nested",
                TAG_NODE: path,
                PARENT_TAG: parent or "",
            },
        )
        state.mlflow_workflow_runs[path] = run.info.run_id
        return run.info.run_id

    def _parent_of(self, step: Step) -> str:
        assert self._state is not None
        if step.workflows:
            return self._workflow_run(step.workflows[-1])
        return self._state.mlflow_run_id or ""

    def _new_step_run(self, step: Step, started: float | None, tags: dict[str, str] | None = None) -> str:
        assert self._state is not None
        run = self._client.create_run(
            self._state.mlflow_experiment_id,
            run_name=step.name,
            start_time=int((started or time.time()) * 1000),
            tags={
                TAG_RUN_ID: self._state.run_id,
                TAG_WORKFLOW: self._state.workflow,
                TAG_KIND: "step",
                TAG_NODE: step.key,
                PARENT_TAG: self._parent_of(step),
                **(tags or {}),
            },
        )
        return run.info.run_id

    def _create_live_run(self, key: str) -> None:
        assert self._graph is not None
        future = self._live[key]
        try:
            future.set_result(self._new_step_run(self._graph.steps[key], time.time()))
        except Exception as error:
            future.set_exception(error)
            raise

    def _stream_running(self) -> None:
        """Upload what running steps logged so far, so long steps show live metrics."""
        if not self._begun or self._state is None or self._graph is None:
            return
        running = [k for k, r in list(self._state.steps.items()) if r.status is StepStatus.RUNNING]
        for key in running:
            records, offset = read_tracking_records(self._state.node_dir(key), self._offsets.get(key, 0))
            if not records:
                continue
            step = self._graph.steps[key]
            run_id = self._run_of(step, self._state.step(key))
            self._log(run_id, records, params={}, tags={})
            self._offsets[key] = offset
            self._state.step(key).extra[UPLOADED] = offset

    def _run_of(self, step: Step, record: StepRecord, tags: dict[str, str] | None = None) -> str:
        """The step's run: opened before it started, opened while it ran, or new now."""
        future = self._live.get(step.key)
        if future is not None:
            return future.result()
        if step.key not in self._opened:
            self._opened[step.key] = self._new_step_run(step, record.started_at, tags)
        return self._opened[step.key]

    def _record_step(self, step: Step, record: StepRecord) -> None:
        """Write a finished step's run in as few store calls as possible (two for a quiet step)."""
        assert self._state is not None
        client = self._client
        node_dir = self._state.node_dir(step.key)
        records, uploaded = read_tracking_records(node_dir, self._offsets.pop(step.key, 0))
        params = {k: _param_text(v) for k, v in step.executor.parameters.items()}
        tags = self._step_tags(record)
        created_now = step.key not in self._live and step.key not in self._opened
        run_id = self._run_of(step, record, tags)
        self._opened.pop(step.key, None)
        self._state.step(step.key).mlflow_run_id = run_id
        self._state.step(step.key).extra[UPLOADED] = uploaded
        self._log(
            run_id,
            records,
            params,
            {} if created_now else tags,
            extra=_result_metrics(node_dir / "result.json"),
        )
        self._upload_files(run_id, step, record, node_dir)
        if record.started_at is None:  # never ran (skipped, cancelled): no duration to show
            end = client.get_run(run_id).info.start_time
        else:
            end = int((record.ended_at or time.time()) * 1000)
        client.set_terminated(run_id, status=_MLFLOW_STATUS.get(record.status, "KILLED"), end_time=end)

    def _log(
        self,
        run_id: str,
        records: list[dict],
        params: dict[str, str],
        tags: dict[str, str],
        extra: list | None = None,
    ) -> None:
        """One ``log_batch`` (or none) for what a step logged plus Scanflow's params and tags."""
        from mlflow.entities import Metric, Param, RunTag

        params = {**params, **{r["key"]: r["value"][:_PARAM_LIMIT] for r in records if r["type"] == "param"}}
        tags = {**tags, **{r["key"]: r["value"] for r in records if r["type"] == "tag"}}
        metrics = [
            Metric(r["key"], r["value"], r["timestamp"], r.get("step", 0))
            for r in records
            if r["type"] == "metric"
        ]
        metrics += extra or []
        for start in range(0, len(metrics) or 1, 1000):  # MLflow takes 1000 metrics a batch
            chunk = metrics[start : start + 1000]
            first = start == 0
            if chunk or (first and (params or tags)):
                self._client.log_batch(
                    run_id,
                    metrics=chunk,
                    params=[Param(k, v) for k, v in params.items()] if first else [],
                    tags=[RunTag(k, v) for k, v in tags.items()] if first else [],
                )

    def _step_tags(self, record: StepRecord) -> dict[str, str]:
        assert self._state is not None
        tags = {
            TAG_STATUS: record.status.value,
            "scanflow.attempts": str(record.attempts),
            "scanflow.duration_s": f"{record.duration:.3f}" if record.duration is not None else "",
            "scanflow.exit_code": "" if record.exit_code is None else str(record.exit_code),
            "scanflow.env_hash": record.env_hash or "",
            "scanflow.backend": self._state.backend,
        }
        if record.reason:
            tags[TAG_REASON] = record.reason[:_PARAM_LIMIT]
        return tags

    def _upload_files(self, run_id: str, step: Step, record: StepRecord, node_dir: Path) -> None:
        assert self._state is not None
        client = self._client
        log = Path(record.log_path) if record.log_path else None
        if log is not None and log.is_file() and log.stat().st_size:
            client.log_artifact(run_id, str(log), "logs")
        if (node_dir / ARTIFACTS_DIR).is_dir():
            client.log_artifacts(run_id, str(node_dir / ARTIFACTS_DIR))
        if record.status.succeeded:
            for output in step.executor.outputs:
                path = self._state.data_dir / output
                parent = str(Path("outputs", output).parent)
                if path.is_dir():
                    client.log_artifacts(run_id, str(path), str(Path("outputs", output)))
                elif path.is_file():
                    client.log_artifact(run_id, str(path), parent)

    def _end(self, state: RunState) -> None:
        client = self._client
        if client is None or not state.mlflow_run_id:
            return
        end = int((state.ended_at or time.time()) * 1000)
        for path, run_id in state.mlflow_workflow_runs.items():
            inside = [r for k, r in state.steps.items() if k.startswith(path + "/")]
            client.set_terminated(run_id, status=_aggregate(inside), end_time=end)
        client.set_tag(state.mlflow_run_id, TAG_STATUS, state.status.value)
        counts: dict[str, int] = {}
        for record in state.steps.values():
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
        client.set_tag(state.mlflow_run_id, "scanflow.steps", json.dumps(counts))
        client.set_terminated(
            state.mlflow_run_id, status=_RUN_STATUS.get(state.status, "KILLED"), end_time=end
        )
        state.save()


def _aggregate(records: list[StepRecord]) -> str:
    if any(r.status is StepStatus.FAILED for r in records):
        return "FAILED"
    if any(r.status in (StepStatus.CANCELLED, StepStatus.SKIPPED, StepStatus.PENDING) for r in records):
        return "KILLED"
    return "FINISHED"


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:_PARAM_LIMIT]


def _result_metrics(path: Path) -> list:
    """A function step that returns ``{"accuracy": 0.9}`` logs it as metrics."""
    from mlflow.entities import Metric

    if not path.is_file():
        return []
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError:
        return []
    if not isinstance(result, dict):
        return []
    now = int(time.time() * 1000)
    return [
        Metric(str(k), float(v), now, 0)
        for k, v in result.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
