"""How long one prediction takes, before and after: one row (a request) and a batch.

Each figure is the median of repeated calls within a time budget, after a
warm-up call, on the same rows for both models, so the ratio is fair.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

BATCH_ROWS = 1000


@dataclass(frozen=True)
class Latency:
    one_row: float  # seconds per call with one row
    batch: float  # seconds per call with ``batch_rows`` rows
    batch_rows: int


def measure(predict: Callable[[np.ndarray], Any], features: np.ndarray, budget: float = 0.5) -> Latency:
    """Time ``predict`` on one row at a time, then on up to `BATCH_ROWS` rows, ``budget`` seconds each."""
    rows = [features[i : i + 1] for i in range(min(len(features), 200))]
    batch = features[:BATCH_ROWS]
    predict(rows[0])
    predict(batch)
    return Latency(_median(predict, rows, budget), _median(predict, [batch], budget), len(batch))


def _median(predict: Callable[[np.ndarray], Any], inputs: list[np.ndarray], budget: float) -> float:
    times: list[float] = []
    deadline = time.perf_counter() + budget
    while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 5000):
        values = inputs[len(times) % len(inputs)]
        started = time.perf_counter()
        predict(values)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def speedup(before: float, after: float) -> float:
    return before / after if after > 0 else float("inf")
