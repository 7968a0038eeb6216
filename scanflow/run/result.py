"""What `run_workflow` returns: the run's status and every step's record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scanflow.run.state import RunState
from scanflow.run.status import RunStatus, StepRecord, StepStatus


@dataclass
class RunResult:
    state: RunState
    warnings: list[str]

    @property
    def run_id(self) -> str:
        return self.state.run_id

    @property
    def status(self) -> RunStatus:
        return self.state.status

    @property
    def ok(self) -> bool:
        return self.state.status is RunStatus.SUCCEEDED

    @property
    def steps(self) -> dict[str, StepRecord]:
        return self.state.steps

    @property
    def data_dir(self) -> Path:
        return self.state.data_dir

    @property
    def mlflow_run_id(self) -> str | None:
        return self.state.mlflow_run_id

    def keys(self, status: StepStatus) -> list[str]:
        return [k for k, r in self.state.steps.items() if r.status is status]

    def __repr__(self) -> str:
        return f"RunResult(run_id={self.run_id!r}, status={self.status.value!r}, steps={len(self.steps)})"
