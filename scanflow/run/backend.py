"""The contract between the scheduler and the places steps run.

The scheduler decides what runs when; a backend only knows how to prepare the
environments of some steps, start one attempt of a step, and stop it. Every
start reports back exactly once through ``on_exit``, from any thread.
"""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanflow.graph import Step

if TYPE_CHECKING:
    from scanflow.run.capacity import Capacity
    from scanflow.run.state import RunState


class ExitKind(StrEnum):
    EXITED = "exited"  # the step ended by itself; see the code
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    OOM = "oom"
    ERROR = "error"  # the backend could not start or follow the step


@dataclass(frozen=True)
class Exit:
    """How an attempt ended."""

    code: int | None
    kind: ExitKind = ExitKind.EXITED
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.kind is ExitKind.EXITED and self.code == 0

    def describe(self) -> str:
        if self.message:
            return self.message
        if self.kind is ExitKind.EXITED and self.code is not None and self.code < 0:
            try:
                return f"killed by {signal.Signals(-self.code).name}"
            except ValueError:
                return f"killed by signal {-self.code}"
        if self.kind is ExitKind.EXITED:
            return f"exit code {self.code}"
        return self.kind.value


@dataclass
class Launch:
    """Everything a backend needs to start one attempt of a step."""

    step: Step
    attempt: int
    base_dir: Path  # where the workflow's files are
    data_dir: Path  # shared folder where steps exchange files; the working directory
    node_dir: Path  # private folder of the step (tracking side files, result)
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # Scanflow and MLflow variables


class Handle:
    """A started attempt; backends subclass it with what they need to stop it."""

    def __init__(self, launch: Launch):
        self.launch = launch
        self.stop_reason: ExitKind | None = None

    @property
    def pid(self) -> int | None:
        """The host process running the attempt, if there is one (not for containers)."""
        return None


ExitCallback = Callable[[Exit], None]
Progress = Callable[[str], Any]


class Backend(ABC):
    name: str = "backend"
    capacity: Capacity | None = None  # what the scheduler may run at once; None: the host's

    def open_run(self, state: RunState, tracking_uri: str | None, progress: Progress) -> str | None:
        """Set up what the run's steps share (a network, volumes, a tracker) before anything starts.

        ``tracking_uri`` is where the run will be recorded (None when untracked).
        Return the URI the host-side recorder should use instead (a tracker the
        backend started for the run), or None to keep it. ``close`` undoes it.
        """
        return None

    @abstractmethod
    def prepare(self, steps: list[Step], base_dir: Path, progress: Progress) -> dict[str, str]:
        """Build what the steps need (environments, images); return an env id per step key."""

    @abstractmethod
    def start(self, launch: Launch, on_exit: ExitCallback) -> Handle:
        """Start one attempt; call ``on_exit`` once when it ends, whatever happens."""

    @abstractmethod
    def stop(self, handle: Handle, reason: ExitKind) -> None:
        """Stop an attempt (its whole process tree or container); ``on_exit`` still fires."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the backend holds (worker processes, networks)."""

    def check_capacity(self, steps: list[Step]) -> None:  # noqa: B027 - optional hook
        """Raise ``CapacityError`` when a step asks for more than the backend can ever give."""


class BackendError(RuntimeError):
    """The backend cannot run this workflow (engine missing, capacity, build failure)."""
