"""What `run_workflow` returns: the run's status and every step's record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

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

    def raise_for_status(self) -> Self:
        """This result when the run succeeded; otherwise `RunFailed`, naming each failed step and why.

        For scripts and notebooks that chain a run into what follows it:
        ``workflow.run().raise_for_status().metrics()``.
        """
        if not self.ok:
            raise RunFailed(self)
        return self

    def log(self, step: str) -> str:
        """The output of ``step`` (every attempt), as the step printed it."""
        from scanflow.run.step_logs import log_path, pick_step

        path = log_path(self.state, pick_step(self.state, step))
        return path.read_text(errors="replace") if path is not None and path.is_file() else ""

    def metrics(self) -> dict[str, dict[str, float]]:
        """Each tracked step's metrics at their latest value: ``{"train/svm": {"accuracy": 0.98}}``."""
        if self.state.tracking_uri is None:
            raise ValueError(f"run {self.run_id} was not tracked (--no-track): it has no metrics to read")
        from scanflow.track.store import open_client

        client = open_client(self.state.tracking_uri)
        return {
            key: dict(client.get_run(record.mlflow_run_id).data.metrics)
            for key, record in self.steps.items()
            if record.mlflow_run_id is not None
        }

    def _repr_svg_(self) -> str:
        """In Jupyter a result displays as its workflow, each step coloured by how it did."""
        from scanflow.graph_render import render_svg

        return render_svg(self.state.recorded_workflow().graph(), statuses=self.state.statuses())

    def __repr__(self) -> str:
        return f"RunResult(run_id={self.run_id!r}, status={self.status.value!r}, steps={len(self.steps)})"


class RunFailed(RuntimeError):
    """A run did not succeed; ``result`` holds every step's record."""

    def __init__(self, result: RunResult):
        self.result = result
        failed = [(k, r) for k, r in result.steps.items() if r.status is StepStatus.FAILED]
        lines = [f"run {result.run_id} of workflow '{result.state.workflow}' {result.status.value}"]
        lines += [f"  {key}: {record.reason or 'failed'} (log: {record.log_path})" for key, record in failed]
        lines.append(f"fix the failing steps, then: scanflow resume {result.run_id}")
        super().__init__("\n".join(lines))
