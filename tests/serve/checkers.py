"""Checkers for the serving tests, loaded by the server from this file (``--checker FILE:NAME``)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.datasets import load_digits


@dataclass
class Result:
    checker: str
    verdict: str
    score: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


class MeanShift:
    """Drift when the mean pixel value moves more than ``threshold`` from the reference's."""

    name = "mean_shift"

    def __init__(self, reference: np.ndarray, threshold: float = 1.0):
        self.mean = float(np.asarray(reference, dtype=float).mean())
        self.threshold = threshold

    def check(self, batch) -> Result:
        score = abs(float(np.asarray(batch, dtype=float).mean()) - self.mean)
        verdict = "drift" if score > self.threshold else "ok"
        return Result(self.name, verdict, score, len(batch))


def mean_shift() -> MeanShift:
    return MeanShift(load_digits().data)


class Broken:
    name = "broken"

    def check(self, batch) -> Result:
        raise RuntimeError("this checker always fails")


class Slow:
    """Takes a second per window, so the check queue fills up."""

    name = "slow"

    def check(self, batch) -> Result:
        time.sleep(1.0)
        return Result(self.name, "ok", 0.0, len(batch))
