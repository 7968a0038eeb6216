"""The drift checker the serving benchmark attaches (``--checker benchmarks/checker.py``).

A mean-shift test per feature against the bundled digits: cheap, but it looks
at every checked row, like a real drift checker does.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits


class MeanShift:
    name = "mean_shift"

    def __init__(self) -> None:
        reference = load_digits().data
        self.mean = reference.mean(axis=0)
        self.std = reference.std(axis=0) + 1e-9

    def check(self, batch) -> dict:
        values = np.asarray(batch, dtype=float)
        shift = np.abs(values.mean(axis=0) - self.mean) / (self.std / np.sqrt(len(values)))
        score = float(shift.max())
        return {"verdict": "drift" if score > 5 else "ok", "score": score, "n": len(values)}


checker = MeanShift
