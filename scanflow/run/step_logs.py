"""A step's log, read or followed from its run's folder (``scanflow runs log``).

Every step writes its output to ``.scanflow/runs/<run id>/logs/``, whatever the
backend, so the log of any step of any run of this machine can be read there,
also while the run goes on and after it ended without tracking.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scanflow.run.leftovers import in_progress
from scanflow.run.state import RunState
from scanflow.run.status import StepStatus
from scanflow.spec.errors import did_you_mean


def pick_step(state: RunState, step: str | None) -> str:
    """``step``, checked; or, when left out, the one step worth reading (the failed or running one)."""
    if step is not None:
        if step not in state.steps:
            hint = did_you_mean(step, state.steps) or f"its steps: {', '.join(state.steps)}"
            raise LookupError(f"run {state.run_id} has no step '{step}' ({hint})")
        return step
    if len(state.steps) == 1:
        return next(iter(state.steps))
    for status in (StepStatus.FAILED, StepStatus.RUNNING):
        found = [key for key, record in state.steps.items() if record.status is status]
        if len(found) == 1:
            return found[0]
    listing = ", ".join(f"{key} ({record.status.value})" for key, record in state.steps.items())
    raise LookupError(f"name the step whose log to show; run {state.run_id} has: {listing}")


def log_path(state: RunState, step: str) -> Path | None:
    """Where ``step`` of ``state`` writes its output; None for a step that never started."""
    record = state.steps[step]
    return Path(record.log_path) if record.log_path else None


def step_still_running(directory: Path, step: str) -> Callable[[], bool]:
    """Whether ``step`` of the run in ``directory`` may still write, read afresh at each call."""

    def check() -> bool:
        state = RunState.load(directory)
        record = state.steps.get(step)
        return record is not None and not record.status.finished and in_progress(state)

    return check
