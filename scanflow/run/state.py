"""Run state on disk: what `scanflow resume` needs to rerun only what did not succeed.

Each run owns `.scanflow/runs/<run_id>/` with ``state.json`` (the spec as it was,
every step's record), the shared data directory and the step logs. Writes are
atomic (write then rename), so a killed process never leaves half a file.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scanflow.run.status import RunStatus, StepRecord, StepStatus

if TYPE_CHECKING:
    from scanflow.spec.workflow import Workflow


@dataclass
class RunState:
    run_id: str
    workflow: str
    directory: Path
    spec_yaml: str
    base_dir: str
    backend: str = "local"
    status: RunStatus = RunStatus.RUNNING
    created_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    tracking_uri: str | None = None
    mlflow_experiment_id: str | None = None
    mlflow_run_id: str | None = None
    mlflow_workflow_runs: dict[str, str] = field(default_factory=dict)  # nested path -> run id
    steps: dict[str, StepRecord] = field(default_factory=dict)
    resumes: int = 0
    resumed_at: float | None = None  # when the latest resume started
    spec_file: str | None = None  # the workflow file the run came from: a resume reads it again
    owner: dict | None = None  # the Scanflow process running it (pid, start time): see leftovers.py
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def recorded_workflow(self) -> Workflow:
        """The workflow as this run had it (its own copy, not today's file)."""
        from scanflow.spec.workflow import Workflow

        return Workflow.from_yaml_string(self.spec_yaml, base_dir=self.base_dir)

    def statuses(self) -> dict[str, str]:
        """Each step's status by its key, as pictures of the run colour them."""
        return {key: record.status.value for key, record in self.steps.items()}

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def logs_dir(self) -> Path:
        return self.directory / "logs"

    def node_dir(self, key: str) -> Path:
        """Private folder of one step (side-channel tracking files, result)."""
        return self.directory / "nodes" / key.replace("/", "__")

    def log_path(self, key: str) -> Path:
        return self.logs_dir / f"{key.replace('/', '__')}.log"

    def step(self, key: str) -> StepRecord:
        if key not in self.steps:
            self.steps[key] = StepRecord(key)
        return self.steps[key]

    def keys_to_rerun(self) -> list[str]:
        """Steps that did not succeed: failed, skipped, cancelled or never started."""
        return [k for k, r in self.steps.items() if not r.status.succeeded]

    # ---------------------------------------------------------------- disk
    def save(self) -> None:
        """Write ``state.json`` atomically; safe to call from the scheduler and the tracker."""
        with self._lock:
            data = self._to_json()
            _write_atomic(self.directory / "state.json", json.dumps(data))

    def _to_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "spec_yaml": self.spec_yaml,
            "base_dir": self.base_dir,
            "backend": self.backend,
            "status": self.status.value,
            "created_at": self.created_at,
            "ended_at": self.ended_at,
            "tracking_uri": self.tracking_uri,
            "mlflow_experiment_id": self.mlflow_experiment_id,
            "mlflow_run_id": self.mlflow_run_id,
            "mlflow_workflow_runs": self.mlflow_workflow_runs,
            "resumes": self.resumes,
            "resumed_at": self.resumed_at,
            "spec_file": self.spec_file,
            "owner": self.owner,
            "steps": {k: r.to_json() for k, r in list(self.steps.items())},
        }

    @classmethod
    def load(cls, directory: Path) -> RunState:
        data = json.loads((directory / "state.json").read_text())
        steps = {k: StepRecord.from_json(v) for k, v in data.pop("steps").items()}
        status = RunStatus(data.pop("status"))
        return cls(directory=directory, steps=steps, status=status, **data)


class RunStore:
    """The runs of one project home (``.scanflow/runs``)."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = runs_dir

    def create(self, workflow: str, spec_yaml: str, base_dir: Path, backend: str) -> RunState:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        while True:
            run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
            directory = self.runs_dir / run_id
            try:
                directory.mkdir()
                break
            except FileExistsError:
                continue
        state = RunState(run_id, workflow, directory, spec_yaml, str(base_dir), backend)
        state.data_dir.mkdir()
        state.logs_dir.mkdir()
        return state

    def load(self, run_id: str) -> RunState:
        """Load a run by id or unique id prefix; the error lists close ids."""
        exact = self.runs_dir / run_id
        if (exact / "state.json").is_file():
            return RunState.load(exact)
        matches = sorted(p for p in self.runs_dir.glob(f"{run_id}*") if (p / "state.json").is_file())
        if len(matches) == 1:
            return RunState.load(matches[0])
        if not matches:
            recent = ", ".join(p.name for p in self.recent(5)) or "none yet"
            raise LookupError(f"no run '{run_id}' in {self.runs_dir} (recent runs: {recent})")
        raise LookupError(f"'{run_id}' matches several runs: {', '.join(p.name for p in matches)}")

    def recent(self, limit: int | None = None) -> list[Path]:
        """Run folders, newest first. Ids start with their second; runs of the same second go by start."""
        if not self.runs_dir.is_dir():
            return []
        runs = [p for p in self.runs_dir.iterdir() if (p / "state.json").is_file()]
        newest = max((p.name[:_SECOND] for p in runs), default="")
        runs.sort(key=lambda p: (p.name[:_SECOND], _created(p) if p.name[:_SECOND] == newest else 0.0))
        runs.reverse()
        return runs[:limit] if limit else runs


_SECOND = len("20261206-205936")  # the part of a run id that is its start, to the second


def _created(folder: Path) -> float:
    """When the run started; only read for runs that share a second (reading every state is slow)."""
    try:
        return float(json.loads((folder / "state.json").read_text()).get("created_at") or 0.0)
    except (OSError, ValueError):
        return 0.0


def mark_unfinished(state: RunState, status: StepStatus, reason: str) -> None:
    """Give every step that has not finished a final status (cancel, abort)."""
    now = time.time()
    for record in state.steps.values():
        if not record.status.finished:
            if record.status is StepStatus.RUNNING:
                record.ended_at = now
            record.status = status
            record.reason = reason


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(text)
    os.replace(tmp, path)
