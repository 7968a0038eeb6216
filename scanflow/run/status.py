"""The states a step and a run go through, and what we remember of each attempt."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CACHED = "cached"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def succeeded(self) -> bool:
        return self in (StepStatus.DONE, StepStatus.CACHED)

    @property
    def finished(self) -> bool:
        return self not in (StepStatus.PENDING, StepStatus.RUNNING)


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class StepRecord:
    """Everything known about one step of a run; persisted for `scanflow resume`."""

    key: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    env_hash: str | None = None
    cache_key: str | None = None
    mlflow_run_id: str | None = None
    log_path: str | None = None
    log_offset: int = 0  # where this attempt's output starts in the log
    extra: dict = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or self.started_at) - self.started_at

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"status": self.status.value}

    @classmethod
    def from_json(cls, data: dict) -> StepRecord:
        return cls(**{**data, "status": StepStatus(data["status"])})
