"""Recent request latencies of one model, for rules such as "p95 over the last minute".

Prometheus histograms answer this for dashboards; a rule needs the answer inside
the server, per request, so the percentile is recomputed at most every
``refresh`` seconds and read from a cache in between.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np


class LatencyWindow:
    def __init__(self, horizon_s: float = 60.0, refresh_s: float = 0.5):
        self.horizon_s = horizon_s
        self.refresh_s = refresh_s
        self._times: deque[float] = deque()
        self._millis: deque[float] = deque()
        self._cache: dict[tuple[float, float, int], tuple[float, float | None]] = {}

    def record(self, millis: float, now: float | None = None) -> None:
        self._times.append(time.monotonic() if now is None else now)
        self._millis.append(millis)

    def percentile(
        self, q: float, window_s: float, min_count: int = 1, now: float | None = None
    ) -> float | None:
        """The ``q``-th percentile (ms) over the last ``window_s`` seconds; None with too few requests."""
        now = time.monotonic() if now is None else now
        key = (q, window_s, min_count)
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self.refresh_s:
            return cached[1]
        self._forget(now - max(self.horizon_s, window_s))
        start = now - window_s
        recent = [m for t, m in zip(self._times, self._millis, strict=True) if t >= start]
        value = float(np.percentile(recent, q)) if len(recent) >= min_count else None
        self._cache[key] = (now, value)
        return value

    def _forget(self, before: float) -> None:
        while self._times and self._times[0] < before:
            self._times.popleft()
            self._millis.popleft()
