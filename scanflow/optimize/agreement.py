"""Does the optimized model answer like the original? Counted on the user's rows, not assumed.

ONNX runs in float32, and converters approximate a few functions, so a label
near a decision boundary can flip. The count of rows that agree, and the
largest difference in probabilities or values, decide whether the optimized
model may replace the original.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scanflow.optimize.convert import Converted


class ComparisonError(ValueError):
    """The outputs cannot be compared the way asked."""


@dataclass(frozen=True)
class Agreement:
    """How closely the optimized model matched the original on ``rows`` rows."""

    kind: str  # what was compared: labels (classifiers), values, or top-class (of a network's scores)
    rows: int
    matching: int  # same label (classifiers), or every value within tolerance
    max_difference: float  # largest absolute difference of probabilities or values; nan if none
    required: float  # the least fraction of matching rows accepted
    ties: int = 0  # rows whose top two classes the original scored the same, answered the other way

    @property
    def fraction(self) -> float:
        return self.matching / self.rows if self.rows else 0.0

    @property
    def ok(self) -> bool:
        return self.rows > 0 and self.fraction >= self.required

    def summary(self) -> str:
        what = {"labels": "predictions agree", "top-class": "top classes agree"}.get(
            self.kind, "outputs match"
        )
        text = f"{what} on {self.matching}/{self.rows} rows ({100 * self.fraction:.2f}%)"
        if self.ties:
            text += (
                f" ({self.ties} {'tie' if self.ties == 1 else 'ties'} between two classes went the other way)"
            )
        if not np.isnan(self.max_difference):
            about = {"labels": "probabilities", "top-class": "scores"}.get(self.kind, "values")
            text += f", {about} within {self.max_difference:.1e}"
        return text


def agreement(
    converted: Converted,
    optimized: Any,
    features: np.ndarray,
    *,
    min_agreement: float,
    rtol: float = 1e-3,
    atol: float | None = None,
    top_class: bool = False,
) -> Agreement:
    """Compare ``optimized`` (an `OnnxModel`) with the original on ``features``.

    Classifiers are compared by label. Other outputs match within ``rtol`` of
    the original's, or ``atol`` (``rtol / 10``) for values near zero; with
    ``top_class``, a network's rows of class scores are compared by their
    highest score instead.
    """
    if converted.kind == "classifier":
        expected = np.asarray(converted.predict(features)).ravel()
        given = np.asarray(optimized.predict_values(features)).ravel()
        same = expected == given.astype(expected.dtype, copy=False)
        if converted.predict_proba is None:
            return _by_class("labels", same, None, None, min_agreement)
        probabilities = np.asarray(converted.predict_proba(features), dtype=float)
        return _by_class("labels", same, probabilities, optimized.predict_proba(features), min_agreement)
    expected = np.asarray(converted.predict(features), dtype=float)
    given = np.asarray(optimized.predict_values(features), dtype=float).reshape(expected.shape)
    if top_class:
        if expected.ndim != 2 or expected.shape[1] < 2:
            raise ComparisonError(
                f"--compare top-class needs one score per class, but the model's rows of output have"
                f" shape {expected.shape[1:]}: compare its values"
            )
        same = expected.argmax(axis=1) == given.argmax(axis=1)
        return _by_class("top-class", same, expected, given, min_agreement)
    close = np.isclose(given, expected, rtol=rtol, atol=rtol / 10 if atol is None else atol)
    per_row = close.reshape(len(close), -1).all(axis=1) if close.ndim else np.array([bool(close)])
    return Agreement(
        "values", len(per_row), int(per_row.sum()), _max_difference(expected, given), min_agreement
    )


def _by_class(
    kind: str, same: np.ndarray, expected: np.ndarray | None, given: Any, min_agreement: float
) -> Agreement:
    """Rows answered with the same class; a tie in the original's scores counts as agreeing."""
    difference, ties = float("nan"), 0
    if expected is not None:
        difference = _max_difference(expected, given)
        tied = ~same & _tied(expected)
        ties, same = int(tied.sum()), same | tied
    return Agreement(kind, len(same), int(same.sum()), difference, min_agreement, ties)


def _tied(probabilities: np.ndarray, within: float = 1e-6) -> np.ndarray:
    """Rows whose two most likely classes are equally likely: a forest's split vote, say.

    Either answer is the model's; float32 sums decide such a tie at random.
    """
    if probabilities.ndim != 2 or probabilities.shape[1] < 2:
        return np.zeros(len(probabilities), dtype=bool)
    top = np.sort(probabilities, axis=1)[:, -2:]
    return (top[:, 1] - top[:, 0]) <= within


def _max_difference(expected: Any, given: Any) -> float:
    expected, given = np.asarray(expected, dtype=float), np.asarray(given, dtype=float)
    if expected.shape != given.shape or expected.size == 0:
        return float("inf")
    return float(np.max(np.abs(expected - given)))
