"""What the scheduler tells the rest of Scanflow as a run goes (console, tracking)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scanflow.graph import Graph, Step
from scanflow.run.status import StepRecord

if TYPE_CHECKING:
    from scanflow.run.state import RunState


class RunListener:
    """Base class with no-op hooks; subclasses override what they need.

    Hooks are called from the scheduler's thread and must return quickly;
    slow work (tracking) belongs on a listener's own thread.
    """

    def run_started(self, state: RunState, graph: Graph, keys: list[str]) -> None:
        """The run begins; ``keys`` are the steps it will try to run."""

    def step_environment(self, step: Step, record: StepRecord) -> dict[str, str]:
        """Extra environment variables for the step's process."""
        return {}

    def step_started(self, step: Step, record: StepRecord) -> None:
        """An attempt of ``step`` started (``record.attempts`` counts them)."""

    def step_retrying(self, step: Step, record: StepRecord, delay: float) -> None:
        """An attempt failed; another starts in ``delay`` seconds."""

    def step_finished(self, step: Step, record: StepRecord) -> None:
        """``step`` reached its final status: done, cached, failed, skipped or cancelled."""

    def run_finished(self, state: RunState) -> None:
        """Every step has a final status; ``state.status`` is the run's."""
