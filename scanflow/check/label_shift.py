"""Label and prediction shift: did the balance of classes change?

Give it true labels, a model's predicted labels, or predicted probabilities
(one column per class; the most likely class counts). The test joins a
likelihood-ratio chi-squared test of all class shares (sensitive to many small
changes) with exact per-class tests (sensitive to one class appearing or
vanishing, as when a population stops sending one kind of case); see
``contingency.compare_classes``. Each class is reported with its own exact
p-value (Bonferroni-corrected), so the result names what changed.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from scanflow.check.base import Checker, CheckerError, CheckResult, FeatureDrift
from scanflow.check.contingency import compare_classes
from scanflow.check.inputs import MISSING_LEVEL, category_values
from scanflow.check.optional import import_optional
from scanflow.check.sentences import feature_list


class LabelShiftChecker(Checker):
    """Class-balance change of labels or predictions, with new and vanished classes named."""

    name = "label_shift"

    def __init__(self, column: str | None = None, alpha: float = 0.05, seed: int = 0) -> None:
        if not 0 < alpha < 1:
            raise CheckerError(f"alpha must be between 0 and 1, got {alpha}")
        super().__init__(column=column, alpha=alpha, seed=seed)
        self.alpha = alpha
        self.counts: dict[str, int] = {}

    def labels(self, data: Any) -> np.ndarray:
        """The class of each row, as text: from labels, probabilities or a DataFrame column."""
        pd = import_optional("pandas", "check")
        if isinstance(data, pd.DataFrame):
            column = self.config["column"]
            if column is None:
                if data.shape[1] != 1:
                    raise CheckerError(
                        f"the data has {data.shape[1]} columns ({', '.join(map(str, data.columns[:8]))}):"
                        " name the label or prediction column, with -o column=NAME on the command"
                        " line or LabelShiftChecker(column=NAME) in Python"
                    )
                column = data.columns[0]
            if column not in data.columns:
                raise CheckerError(f"the data has no column {column!r} with labels or predictions")
            data = data[column]
        if isinstance(data, pd.Series):
            return category_values(data).astype(str)
        array = np.asarray(data)
        if array.ndim == 2 and array.shape[1] > 1:
            if array.dtype.kind not in "fiu":
                raise CheckerError("2-D input must hold class probabilities (numbers), one column per class")
            return array.argmax(axis=1).astype(str)
        return category_values(pd.Series(array.reshape(-1))).astype(str)

    def fit(self, reference: Any) -> Self:
        labels = self.labels(reference)
        if len(labels) == 0:
            raise CheckerError("the reference is empty: fit the checker on at least one label")
        self.counts = _counts(labels)
        self._mark_fitted()
        return self

    def get_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"counts": self.counts}, {}

    def set_state(self, values: dict[str, Any], arrays: dict[str, Any]) -> None:
        self.counts = {str(k): int(v) for k, v in values["counts"].items()}

    def check(self, batch: Any) -> CheckResult:
        self._require_fitted()
        labels = self.labels(batch)
        if len(labels) == 0:
            raise CheckerError("the batch is empty: pass at least one label to check")
        counts = _counts(labels)
        classes = sorted(set(self.counts) | set(counts), key=_class_order)
        reference = np.array([self.counts.get(c, 0) for c in classes])
        current = np.array([counts.get(c, 0) for c in classes])
        m, n = int(reference.sum()), int(current.sum())
        overall = compare_classes(reference, current, seed=self.config["seed"])
        per_class = np.minimum(1.0, overall.class_p_values * len(classes))
        p_value = overall.p_value
        features = []
        for name, r, b, p in zip(classes, reference, current, per_class, strict=True):
            before, after = r / m, b / n
            if r == 0:
                detail = f"new class: {after:.0%} of the batch"
            elif b == 0:
                detail = f"vanished: {before:.0%} of the reference, none in the batch"
            else:
                detail = f"share {before:.0%} → {after:.0%}"
            features.append(FeatureDrift(name, float(after - before), float(p), bool(p < self.alpha), detail))
        features.sort(key=lambda f: (f.p_value, -abs(f.statistic)))
        drifted = p_value < self.alpha
        return CheckResult(
            checker=self.name,
            verdict="drift" if drifted else "ok",
            score=overall.distance,
            p_value=p_value,
            threshold=self.alpha,
            n=n,
            features=features,
            explanation=self._explain(features, overall.distance, p_value, drifted),
        )

    def _explain(self, features: list[FeatureDrift], distance: float, p_value: float, drifted: bool) -> str:
        changed = [f for f in features if f.drifted]
        if drifted and changed:
            return (
                f"The class balance changed (p={p_value:.2g} < {self.alpha:g}, {distance:.0%} of the mass"
                f" moved); classes that changed: {feature_list(changed)}."
            )
        if drifted:
            return (
                f"The class balance changed overall (p={p_value:.2g} < {self.alpha:g},"
                f" {distance:.0%} of the mass moved), though no single class stands out."
            )
        return f"The class balance is consistent with the reference (p={p_value:.2g} ≥ {self.alpha:g})."


def _counts(labels: np.ndarray) -> dict[str, int]:
    levels, counts = np.unique(labels, return_counts=True)
    return {str(level): int(count) for level, count in zip(levels, counts, strict=True)}


def _class_order(name: str) -> tuple[int, float, str]:
    """Numeric class names in numeric order, then text, then missing."""
    if name == MISSING_LEVEL:
        return (2, 0.0, name)
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)
