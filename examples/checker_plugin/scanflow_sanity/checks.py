"""A sanity checker: a model's predicted probabilities must be probabilities.

Every row must hold one value per class the model had when the checker was
fitted, each in [0, 1], summing to 1. The score is the share of rows that break
a rule; the batch fails when that share exceeds ``max_bad_share``.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from scanflow.check import Checker, CheckerError, CheckResult, FeatureDrift


class ProbabilitySanityChecker(Checker):
    name = "probability_sanity"

    def __init__(self, tolerance: float = 1e-6, max_bad_share: float = 0.0) -> None:
        super().__init__(tolerance=tolerance, max_bad_share=max_bad_share)  # saved as the config
        self.n_classes = 0

    def fit(self, reference: Any) -> Self:
        self.n_classes = np.asarray(reference, dtype=float).shape[1]
        self._mark_fitted()
        return self

    def check(self, batch: Any) -> CheckResult:
        self._require_fitted()
        rows = np.asarray(batch, dtype=float)
        if rows.ndim != 2 or rows.shape[1] != self.n_classes:
            raise CheckerError(f"expected rows of {self.n_classes} probabilities, got shape {rows.shape}")
        tolerance = self.config["tolerance"]
        rules = {
            "in [0, 1]": ((rows < -tolerance) | (rows > 1 + tolerance)).any(axis=1),
            "sums to 1": np.abs(rows.sum(axis=1) - 1) > tolerance,
            "finite": ~np.isfinite(rows).all(axis=1),
        }
        features = [
            FeatureDrift(rule, float(bad.mean()), None, bool(bad.any()), f"{int(bad.sum())} row(s) break it")
            for rule, bad in rules.items()
        ]
        features.sort(key=lambda f: -f.statistic)
        share = float(np.any(list(rules.values()), axis=0).mean())
        failed = share > self.config["max_bad_share"]
        return CheckResult(
            checker=self.name,
            verdict="drift" if failed else "ok",
            score=share,
            p_value=None,
            threshold=self.config["max_bad_share"],
            n=len(rows),
            features=features,
            explanation=f"{share:.0%} of rows are not valid probability vectors.",
        )

    # What save() writes and load() restores, besides the config: JSON values and arrays.
    def get_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"n_classes": self.n_classes}, {}

    def set_state(self, values: dict[str, Any], arrays: dict[str, Any]) -> None:
        self.n_classes = values["n_classes"]
