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


@dataclass(frozen=True)
class Agreement:
    """How closely the optimized model matched the original on ``rows`` rows."""

    kind: str  # classifier, regressor, tensor
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
        what = "predictions agree" if self.kind == "classifier" else "outputs match"
        text = f"{what} on {self.matching}/{self.rows} rows ({100 * self.fraction:.2f}%)"
        if self.ties:
            text += (
                f" ({self.ties} {'tie' if self.ties == 1 else 'ties'} between two classes went the other way)"
            )
        if not np.isnan(self.max_difference):
            about = "probabilities" if self.kind == "classifier" else "values"
            text += f", {about} within {self.max_difference:.1e}"
        return text


def agreement(
    converted: Converted,
    optimized: Any,
    features: np.ndarray,
    *,
    min_agreement: float,
    rtol: float = 1e-3,
    atol: float = 1e-4,
) -> Agreement:
    """Compare ``optimized`` (an `OnnxModel`) with the original on ``features``."""
    if converted.kind == "classifier":
        expected = np.asarray(converted.predict(features)).ravel()
        given = np.asarray(optimized.predict_values(features)).ravel()
        same = expected == given.astype(expected.dtype, copy=False)
        difference, ties = float("nan"), 0
        if converted.predict_proba is not None:
            probabilities = np.asarray(converted.predict_proba(features), dtype=float)
            difference = _max_difference(probabilities, optimized.predict_proba(features))
            tied = ~same & _tied(probabilities)
            ties, same = int(tied.sum()), same | tied
        return Agreement("classifier", len(expected), int(same.sum()), difference, min_agreement, ties)
    expected = np.asarray(converted.predict(features), dtype=float)
    given = np.asarray(optimized.predict_values(features), dtype=float).reshape(expected.shape)
    close = np.isclose(given, expected, rtol=rtol, atol=atol)
    per_row = close.reshape(len(close), -1).all(axis=1) if close.ndim else np.array([bool(close)])
    return Agreement(
        converted.kind, len(per_row), int(per_row.sum()), _max_difference(expected, given), min_agreement
    )


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
