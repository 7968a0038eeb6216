"""Online checking: a sliding window over a fitted checker, for a stream of rows.

Testing the latest ``window`` rows after every ``stride`` new ones means many
tests, so a single-test alpha would raise false alarms all day. Instead the
user sets the expected run length between false alarms, ``ert`` (in rows):
each evaluation uses the level ``stride / ert``. Whatever the overlap between
windows, the expected number of false alarms per ``ert`` rows is then at most
one (linearity of expectation over the ``ert / stride`` evaluations in that span).

Adding rows is O(1): chunks are appended to a deque; the window is assembled
only when an evaluation is due, so the cost per row stays constant.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import replace
from typing import Any

from scanflow.check.base import Checker, CheckerError, CheckResult
from scanflow.check.optional import import_optional


class OnlineChecker:
    """Judges the latest ``window`` rows every ``stride`` rows, calibrated for repeated testing."""

    def __init__(
        self, checker: Checker, window: int = 200, stride: int | None = None, ert: int = 10_000
    ) -> None:
        if not checker.fitted:
            raise CheckerError("fit the checker (or load a saved one) before watching a stream with it")
        if window < 2:
            raise CheckerError(f"window must hold at least 2 rows, got {window}")
        stride = stride or max(1, window // 4)
        if not 1 <= stride <= ert:
            raise CheckerError(f"stride must be between 1 and ert ({ert}), got {stride}")
        self.checker = checker
        self.window = window
        self.stride = stride
        self.ert = ert
        self.level = stride / ert
        permutations = getattr(checker, "n_permutations", None)
        if permutations is not None and 1 / (permutations + 1) >= self.level:
            raise CheckerError(
                f"a permutation test with {permutations} permutations cannot reach the level {self.level:.2g}"
                f" that ert={ert} and stride={stride} need: use at least {int(2 / self.level)} permutations,"
                " a larger stride, or a smaller ert"
            )
        self.seen = 0
        self.alarms = 0
        self.last: CheckResult | None = None
        self._chunks: collections.deque[Any] = collections.deque()
        self._buffered = 0
        self._since = 0
        self._lock = threading.Lock()

    def update(self, rows: Any) -> CheckResult | None:
        """Add one row or a few; returns a result when an evaluation was due, else ``None``."""
        chunk = _as_rows(rows)
        with self._lock:
            self._chunks.append(chunk)
            self._buffered += len(chunk)
            self.seen += len(chunk)
            self._since += len(chunk)
            while self._buffered - len(self._chunks[0]) >= self.window:
                self._buffered -= len(self._chunks.popleft())
            if self._buffered < self.window or self._since < self.stride:
                return None
            self._since = 0
            batch = _concat(list(self._chunks))[-self.window :]
        return self.evaluate(batch)

    def evaluate(self, batch: Any) -> CheckResult:
        """Judge one whole window at the online level (for callers that cut windows themselves)."""
        result = self.checker.check(batch)
        if result.p_value is not None:
            drifted = result.p_value < self.level
            verdict = "drift" if drifted else "ok"
            comparison = "<" if drifted else "≥"
            note = (
                f" Online: p={result.p_value:.2g} {comparison} {self.level:.2g}, the level giving one false"
                f" alarm per {self.ert} rows on average."
            )
            explanation = result.explanation + note
            result = replace(result, verdict=verdict, threshold=self.level, explanation=explanation)
        with self._lock:
            self.alarms += result.verdict == "drift"
            self.last = result
        return result


def _as_rows(rows: Any) -> Any:
    """One sample (a dict, a 1-D vector, one image) or a batch, always as a batch."""
    pd = import_optional("pandas", "check")
    np = import_optional("numpy", "check")
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, pd.Series):
        return rows.to_frame().T
    if isinstance(rows, dict):
        return pd.DataFrame([rows])
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        return pd.DataFrame(rows)
    array = np.asarray(rows)
    return array[None, ...] if array.ndim <= 1 else array


def _concat(chunks: list[Any]) -> Any:
    pd = import_optional("pandas", "check")
    np = import_optional("numpy", "check")
    if isinstance(chunks[0], pd.DataFrame):
        return pd.concat(chunks, ignore_index=True)
    return np.concatenate(chunks, axis=0)
