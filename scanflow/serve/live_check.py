"""Live checking: checkers judge windows of recent inputs, off the request path.

A request only appends its input to a bounded queue (never waits: when the
queue is full the rows are dropped and counted). One background thread cuts the
queued rows into windows of ``window`` rows and hands each window to every
checker. A checker that raises is counted and reported; predictions never see it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

log = logging.getLogger("scanflow.serve")


@runtime_checkable
class LiveChecker(Protocol):
    """What the service needs of a checker (``scanflow.check.Checker`` is one)."""

    def check(self, batch: Any) -> Any:
        """Judge a batch (DataFrame or array); the result has ``verdict``, ``score``, ``to_dict()``."""


@dataclass
class CheckerState:
    """What one checker said so far."""

    name: str
    checker: LiveChecker
    windows: int = 0
    errors: int = 0
    last: dict[str, Any] | None = None
    last_at: float | None = None
    last_error: str | None = None

    @property
    def score(self) -> float | None:
        return None if self.last is None else self.last.get("score")

    def report(self) -> dict[str, Any]:
        return {
            "checker": self.name,
            "windows": self.windows,
            "errors": self.errors,
            "last": self.last,
            "last_at": self.last_at,
            "last_error": self.last_error,
        }


@dataclass
class Window:
    """Rows waiting to be checked, as they came (DataFrames or arrays)."""

    parts: deque[Any] = field(default_factory=deque)
    rows: int = 0


ResultListener = Callable[[CheckerState], None]


class LiveChecking:
    def __init__(
        self,
        checkers: dict[str, LiveChecker],
        window: int = 200,
        capacity: int = 10_000,
        on_result: ResultListener | None = None,
        on_error: ResultListener | None = None,
        on_drop: Callable[[int], None] | None = None,
    ):
        self.states = {name: CheckerState(name, checker) for name, checker in checkers.items()}
        self.window = window
        self.capacity = max(capacity, window)
        self.dropped = 0
        self._on_result = on_result or (lambda state: None)
        self._on_error = on_error or (lambda state: None)
        self._on_drop = on_drop or (lambda rows: None)
        self._queue = Window()
        self._names: list[str] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scanflow-live-check", daemon=True)

    @property
    def enabled(self) -> bool:
        return bool(self.states)

    # ------------------------------------------------------------ hot path
    def submit(self, values: Any, names: list[str] | None = None) -> bool:
        """Queue a request's input for checking; False (and counted) when the queue is full.

        An array with ``names`` reaches the checkers as a DataFrame with those columns.
        """
        if names is not None and self._names is None:
            self._names = names
        rows = len(values)
        with self._lock:
            if self._queue.rows + rows > self.capacity:
                self.dropped += rows
                dropped = True
            else:
                self._queue.parts.append(values)
                self._queue.rows += rows
                dropped = False
        if dropped:
            self._on_drop(rows)
            return False
        if self._queue.rows >= self.window:
            self._wake.set()
        return True

    @property
    def pending(self) -> int:
        return self._queue.rows

    # ------------------------------------------------------------ background
    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            while (batch := self._take_window()) is not None:
                self.judge(batch)

    def _take_window(self) -> Any | None:
        """The oldest ``window`` queued rows as one batch, or None if fewer are queued."""
        with self._lock:
            queue = self._queue
            if queue.rows < self.window:
                return None
            parts, taken = [], 0
            while taken < self.window:
                part = queue.parts.popleft()
                need = self.window - taken
                if len(part) > need:
                    queue.parts.appendleft(part[need:])
                    part = part[:need]
                parts.append(part)
                taken += len(part)
            queue.rows -= taken
        if isinstance(parts[0], pd.DataFrame):
            return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
        array = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if self._names is not None and array.ndim == 2 and array.shape[1] == len(self._names):
            return pd.DataFrame(array, columns=self._names)
        return array

    def judge(self, batch: Any) -> None:
        """Run every checker on one window; a failing checker only marks its own state."""
        for state in self.states.values():
            try:
                result = state.checker.check(batch)
                state.last = _as_dict(result)
            except Exception as error:
                state.errors += 1
                state.last_error = f"{type(error).__name__}: {error}"
                log.warning("checker %s failed on a window: %s", state.name, state.last_error)
                self._on_error(state)
                continue
            state.windows += 1
            state.last_at = time.time()
            try:
                self._on_result(state)
            except Exception:
                log.exception("reporting the result of checker %s failed", state.name)

    def report(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "queue": {"capacity": self.capacity, "pending": self.pending, "dropped": self.dropped},
            "checkers": [state.report() for state in self.states.values()],
        }

    def scores(self) -> dict[str, float] | None:
        """The latest score of each checker, for the prediction log."""
        scores = {name: s.score for name, s in self.states.items() if s.score is not None}
        return scores or None


def _as_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "to_dict"):
        data = dict(result.to_dict())
    elif isinstance(result, dict):
        data = dict(result)
    else:
        data = {}
    for key in ("verdict", "score", "p_value", "threshold", "n", "explanation"):
        if key not in data and hasattr(result, key):
            data[key] = getattr(result, key)
    if "score" in data and data["score"] is not None:
        data["score"] = float(data["score"])
    return data
