"""The one scheduler every backend shares.

It walks the graph, starts each step when what it waits for has succeeded and
its declared resources fit, retries with backoff, enforces timeouts, skips
what depends on a failure (or stops everything with ``fail_fast``), and turns
Ctrl-C into a clean stop of every step. Backends only start and stop steps.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from pathlib import Path

from scanflow.graph import Graph, Step
from scanflow.run.backend import Backend, Exit, ExitKind, Handle, Launch
from scanflow.run.cache import StepCache, missing_files
from scanflow.run.capacity import Budget, Capacity
from scanflow.run.failure import failure_reason
from scanflow.run.leftovers import process_ref
from scanflow.run.lifeline import Lifeline
from scanflow.run.listener import RunListener
from scanflow.run.state import RunState, mark_unfinished
from scanflow.run.status import RunStatus, StepRecord, StepStatus

_MAX_WAIT = 0.5  # seconds between checks of timeouts and retries when nothing happens
_SAVE_EVERY = 0.25  # seconds: state.json follows finished steps this closely (resume reruns the rest)


@dataclass
class _Running:
    handle: Handle
    deadline: float | None


class Scheduler:
    def __init__(
        self,
        graph: Graph,
        backend: Backend,
        state: RunState,
        listeners: list[RunListener],
        capacity: Capacity,
        env_hashes: dict[str, str],
        cache: StepCache | None = None,
        fail_fast: bool = False,
        stop_wait: float = 15.0,
        lifeline: Lifeline | None = None,
    ):
        self.graph = graph
        self.backend = backend
        self.state = state
        self.listeners = listeners
        self.budget = Budget(capacity)
        self.env_hashes = env_hashes
        self.cache = cache
        self.fail_fast = fail_fast
        self.lifeline = lifeline  # told of each step process, to stop them if this process is killed
        self.stop_wait = stop_wait
        self._exits: queue.Queue[tuple[str, Exit]] = queue.Queue()
        self._pending: list[str] = []
        self._running: dict[str, _Running] = {}
        self._retry_at: dict[str, float] = {}
        self._unsaved = False
        self._saved_at = 0.0

    # ------------------------------------------------------------------ loop
    def run(self, keys: list[str]) -> RunStatus:
        """Run ``keys`` (in graph order); steps outside it count as already done."""
        wanted = set(keys)
        self._pending = [k for k in self.graph.steps if k in wanted]
        for key in self._pending:
            record = self.state.step(key)
            record.status, record.reason, record.attempts = StepStatus.PENDING, None, 0
            record.started_at = record.ended_at = record.exit_code = None
        self.state.status = RunStatus.RUNNING
        self.state.save()
        try:
            self._loop()
        except KeyboardInterrupt:
            self._cancel("cancelled by the user")
            self.state.status = RunStatus.CANCELLED
        else:
            failed = any(self.state.steps[k].status is StepStatus.FAILED for k in wanted)
            cancelled = any(self.state.steps[k].status is StepStatus.CANCELLED for k in wanted)
            self.state.status = (
                RunStatus.FAILED if failed else RunStatus.CANCELLED if cancelled else RunStatus.SUCCEEDED
            )
        self.state.ended_at = time.time()
        self.state.save()
        return self.state.status

    def _loop(self) -> None:
        while True:
            self._start_ready()
            if not self._running and not self._retry_at:
                if self._pending:  # only reachable if edges point outside the run
                    for key in list(self._pending):
                        self._skip(key, "its upstream steps were not run")
                return
            try:
                key, exit_ = self._exits.get(timeout=self._wait_time())
            except queue.Empty:
                pass
            else:
                self._finish(key, exit_)
                while True:
                    try:
                        key, exit_ = self._exits.get_nowait()
                    except queue.Empty:
                        break
                    self._finish(key, exit_)
            self._enforce_timeouts()
            self._save_now_and_then()

    def _save_now_and_then(self) -> None:
        """Persist progress at most every ``_SAVE_EVERY`` seconds: large DAGs finish steps fast."""
        if self._unsaved and time.time() - self._saved_at >= _SAVE_EVERY:
            self.state.save()
            self._unsaved, self._saved_at = False, time.time()

    def _wait_time(self) -> float:
        now = time.time()
        moments = [r.deadline for r in self._running.values() if r.deadline is not None]
        moments += list(self._retry_at.values())
        if not moments:
            return _MAX_WAIT
        return max(0.0, min(_MAX_WAIT, min(moments) - now))

    # -------------------------------------------------------------- starting
    def _ready(self, key: str) -> bool:
        if key in self._retry_at and self._retry_at[key] > time.time():
            return False
        step = self.graph.steps[key]
        return all(self.state.step(up).status.succeeded for up in step.upstream)

    def _start_ready(self) -> None:
        for key in list(self._pending):
            if key not in self._pending or not self._ready(key):
                continue
            step = self.graph.steps[key]
            if not self.budget.fits(step.executor.resources):
                continue
            self._retry_at.pop(key, None)
            self._pending.remove(key)
            self._start(step)

    def _start(self, step: Step) -> None:
        record = self.state.step(step.key)
        record.attempts += 1
        if record.attempts == 1:
            record.started_at = time.time()
            record.env_hash = self.env_hashes.get(step.key)
            if missing := missing_files(step.executor.inputs, self.state.data_dir):
                record.reason = missing_inputs_reason(missing, step, self.graph)
                self._give_up(step, record)  # no attempt can find them: the step never starts
                return
            if self._restore_from_cache(step, record):
                return
        launch = self._launch(step, record)  # may wait for the step's MLflow run
        record.status = StepStatus.RUNNING
        if record.attempts == 1:
            record.started_at = time.time()  # a step's time is its own, not the tracker's warm-up
        self.budget.take(step.key, step.executor.resources)
        for listener in self.listeners:
            listener.step_started(step, record)
        try:
            handle = self.backend.start(launch, lambda exit_, key=step.key: self._exits.put((key, exit_)))
        except Exception as error:  # the backend could not start it: a failure like any other
            self._running[step.key] = _Running(Handle(launch), None)  # what _finish settles
            self._finish(step.key, Exit(None, ExitKind.ERROR, f"could not start: {error}"))
            return
        if handle.pid is not None:  # so a resume after a killed run can stop what is left
            record.extra["process"] = process_ref(handle.pid)
            self._unsaved = True
            if self.lifeline is not None and record.extra["process"] is not None:
                self.lifeline.process_started(record.extra["process"])
        timeout = step.executor.timeout_seconds
        self._running[step.key] = _Running(handle, time.time() + timeout if timeout else None)

    def _launch(self, step: Step, record: StepRecord) -> Launch:
        node_dir = self.state.node_dir(step.key)
        node_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.state.log_path(step.key)
        record.log_path = str(log_path)
        # The log keeps every attempt (retries, resumes); this one's output starts after its header.
        if record.attempts > 1 or (log_path.is_file() and log_path.stat().st_size):
            resumed = f", resume #{self.state.resumes}" if self.state.resumes else ""
            with open(log_path, "a") as log:
                log.write(f"--- attempt {record.attempts} of {step.executor.retries + 1}{resumed} ---\n")
        record.log_offset = log_path.stat().st_size if log_path.is_file() else 0
        env = {
            "SCANFLOW_RUN_ID": self.state.run_id,
            "SCANFLOW_WORKFLOW": self.state.workflow,
            "SCANFLOW_NODE": step.key,
            "SCANFLOW_ATTEMPT": str(record.attempts),
            "SCANFLOW_DATA_DIR": str(self.state.data_dir),
            "SCANFLOW_WORKFLOW_DIR": str(self.graph.base_dir),
            "SCANFLOW_NODE_DIR": str(node_dir),
        }
        for listener in self.listeners:
            env.update(listener.step_environment(step, record))
        return Launch(
            step, record.attempts, self.graph.base_dir, self.state.data_dir, node_dir, log_path, env
        )

    def _restore_from_cache(self, step: Step, record: StepRecord) -> bool:
        if self.cache is None or not step.executor.cache:
            return False
        record.cache_key = self.cache.key(
            step, self.graph.base_dir, self.state.data_dir, record.env_hash or ""
        )
        entry = self.cache.lookup(record.cache_key, step.executor.outputs)
        if entry is None:
            return False
        self.cache.restore(entry, step.executor.outputs, self.state.data_dir)
        record.status, record.ended_at, record.exit_code = StepStatus.CACHED, time.time(), 0
        record.reason = "unchanged code, parameters, inputs and environment"
        self._notify_finished(step, record)
        return True

    # ------------------------------------------------------------- finishing
    def _finish(self, key: str, exit_: Exit) -> None:
        if key not in self._running:
            return
        self._running.pop(key)
        self.budget.release(key)
        step = self.graph.steps[key]
        record = self.state.step(key)
        record.exit_code = exit_.code
        if exit_.ok and (missing := missing_files(step.executor.outputs, self.state.data_dir)):
            exit_ = Exit(exit_.code, ExitKind.ERROR, f"declared output not written: {', '.join(missing)}")
        if exit_.ok:
            record.status, record.reason, record.ended_at = StepStatus.DONE, None, time.time()
            self._store_in_cache(step, record)
            self._notify_finished(step, record)
            return
        record.reason = exit_.describe()
        if exit_.kind is ExitKind.EXITED:
            record.reason = failure_reason(record.reason, record.log_path, record.log_offset)
        if exit_.kind is ExitKind.TIMEOUT:
            record.reason = f"timed out after {_seconds(step.executor.timeout)}"
        if exit_.kind is ExitKind.CANCELLED:
            self._final(step, record, StepStatus.CANCELLED)
            return
        if record.attempts <= step.executor.retries:
            delay = step.executor.retry_delay * 2 ** (record.attempts - 1)
            record.status = StepStatus.PENDING
            self._retry_at[key] = time.time() + delay
            self._pending.insert(0, key)
            for listener in self.listeners:
                listener.step_retrying(step, record, delay)
            return
        self._give_up(step, record)

    def _give_up(self, step: Step, record: StepRecord) -> None:
        """Fail the step for good: what depends on it is skipped (or everything stops, with --fail-fast)."""
        self._final(step, record, StepStatus.FAILED)
        for down in self.graph.downstream(step.key):
            if down in self._pending:
                self._skip(down, f"upstream step '{step.key}' failed")
        if self.fail_fast:
            self._cancel(f"stopped by --fail-fast after '{step.key}' failed")

    def _store_in_cache(self, step: Step, record: StepRecord) -> None:
        if self.cache is None or not step.executor.cache or record.cache_key is None:
            return
        meta = {"run_id": self.state.run_id, "step": step.key}
        self.cache.store(record.cache_key, step.executor.outputs, self.state.data_dir, meta)

    def _final(self, step: Step, record: StepRecord, status: StepStatus) -> None:
        record.status, record.ended_at = status, time.time()
        self._notify_finished(step, record)

    def _skip(self, key: str, reason: str) -> None:
        self._pending.remove(key)
        self._retry_at.pop(key, None)
        record = self.state.step(key)
        record.status, record.reason = StepStatus.SKIPPED, reason
        self._notify_finished(self.graph.steps[key], record)

    def _notify_finished(self, step: Step, record: StepRecord) -> None:
        self._unsaved = True
        for listener in self.listeners:
            listener.step_finished(step, record)

    # --------------------------------------------------------- stopping early
    def _enforce_timeouts(self) -> None:
        now = time.time()
        for key, running in list(self._running.items()):
            if (
                running.deadline is not None
                and now >= running.deadline
                and running.handle.stop_reason is None
            ):
                limit = _seconds(self.graph.steps[key].executor.timeout)
                self.backend.stop(running.handle, ExitKind.TIMEOUT)
                running.handle.stop_reason = ExitKind.TIMEOUT
                _note(self.state.log_path(key), f"timed out after {limit}; stopping the step")

    def _cancel(self, reason: str) -> None:
        """Stop every running step, wait for them to end, and cancel what is left."""
        for key in list(self._pending):
            self._pending.remove(key)
            record = self.state.step(key)
            record.status, record.reason = StepStatus.CANCELLED, reason
            self._notify_finished(self.graph.steps[key], record)
        self._retry_at.clear()
        for running in self._running.values():
            self.backend.stop(running.handle, ExitKind.CANCELLED)
        deadline = time.time() + self.stop_wait
        while self._running and time.time() < deadline:
            try:
                key, exit_ = self._exits.get(timeout=0.2)
            except queue.Empty:
                continue
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting politely
                break
            self._finish(key, Exit(exit_.code, ExitKind.CANCELLED, reason))
        for key in list(self._running):
            record = self.state.step(key)
            self._running.pop(key)
            self._final(self.graph.steps[key], record, StepStatus.CANCELLED)
        mark_unfinished(self.state, StepStatus.CANCELLED, reason)


def _note(log_path: Path, message: str) -> None:
    with open(log_path, "a") as log:
        log.write(f"[scanflow] {message}\n")


def missing_inputs_reason(missing: list[str], step: Step, graph: Graph) -> str:
    """Why declared inputs are not there: who writes them, or that no step does."""
    parts = []
    for path in missing:
        writers = graph.writers_of(path, step.key)
        why = f"'{writers[0]}' writes it; make '{step.key}' depend on it" if writers else "no step writes it"
        parts.append(f"declared input not in the data directory: {path} ({why})")
    return "; ".join(parts)


def _seconds(value: str | float | None) -> str:
    return f"{value:g}s" if isinstance(value, int | float) else str(value)
