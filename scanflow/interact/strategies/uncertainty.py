"""Uncertainty sampling: ask about what the model is least sure of.

Three ways to read "unsure" from the predicted probabilities. Margin (the gap
between the two most likely classes) is the most robust with few labels;
least confidence and entropy favour samples that are vague about many classes,
which early on are often outliers.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from scanflow.interact.pool import Pool
from scanflow.interact.strategies.base import ScoringStrategy


def top_two(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the most and second most likely class of each row."""
    if probabilities.shape[1] < 2:
        zeros = np.zeros(len(probabilities), dtype=int)
        return zeros, zeros
    two = np.argpartition(-probabilities, 1, axis=1)[:, :2]
    rows = np.arange(len(probabilities))
    first_is_best = probabilities[rows, two[:, 0]] >= probabilities[rows, two[:, 1]]
    best = np.where(first_is_best, two[:, 0], two[:, 1])
    second = np.where(first_is_best, two[:, 1], two[:, 0])
    return best, second


def margins(probabilities: np.ndarray) -> np.ndarray:
    """Gap between the two most likely classes (0: a coin toss between them)."""
    best, second = top_two(probabilities)
    rows = np.arange(len(probabilities))
    return probabilities[rows, best] - probabilities[rows, second]


class LeastConfidence(ScoringStrategy):
    """Score ``1 - max p``: the model's best guess is weak."""

    name: ClassVar[str] = "least-confidence"
    needs: ClassVar[tuple[str, ...]] = ("probabilities",)

    def scores(self, pool: Pool) -> np.ndarray:
        assert pool.probabilities is not None
        return 1.0 - pool.probabilities.max(axis=1)

    def reason(self, pool: Pool, position: int, score: float) -> str:
        assert pool.probabilities is not None
        best = int(np.argmax(pool.probabilities[position]))
        return f"low confidence: {1 - score:.0%} for '{pool.class_name(best)}'"


class Margin(ScoringStrategy):
    """Score ``1 - (p_best - p_second)``: the model hesitates between two classes."""

    name: ClassVar[str] = "margin"
    needs: ClassVar[tuple[str, ...]] = ("probabilities",)

    def scores(self, pool: Pool) -> np.ndarray:
        assert pool.probabilities is not None
        return 1.0 - margins(pool.probabilities)

    def reason(self, pool: Pool, position: int, score: float) -> str:
        assert pool.probabilities is not None
        return hesitation(pool, position)


class Entropy(ScoringStrategy):
    """Score the entropy of the predicted distribution: spread over many classes."""

    name: ClassVar[str] = "entropy"
    needs: ClassVar[tuple[str, ...]] = ("probabilities",)

    def scores(self, pool: Pool) -> np.ndarray:
        assert pool.probabilities is not None
        p = np.clip(pool.probabilities, 1e-12, 1.0)
        return -(p * np.log(p)).sum(axis=1)

    def reason(self, pool: Pool, position: int, score: float) -> str:
        assert pool.probabilities is not None
        k = pool.probabilities.shape[1]
        return f"spread over classes: entropy {score:.2f} of at most {np.log(max(k, 2)):.2f}"


def hesitation(pool: Pool, position: int) -> str:
    """'torn between 3 (48%) and 8 (45%)': the reason shown for margin-based picks."""
    assert pool.probabilities is not None
    row = pool.probabilities[position : position + 1]
    best, second = (int(c[0]) for c in top_two(row))
    return (
        f"torn between '{pool.class_name(best)}' ({row[0, best]:.0%})"
        f" and '{pool.class_name(second)}' ({row[0, second]:.0%})"
    )
