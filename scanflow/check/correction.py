"""Multiple-testing corrections: one p-value per feature, one verdict per batch.

Testing 64 pixels at 5% each would flag three of them on clean data; these
corrections keep the batch-level false-alarm rate at the chosen level.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

Correction = Literal["bonferroni", "fdr"]
CORRECTIONS = ("bonferroni", "fdr")


def adjust(p_values: Any, method: Correction) -> np.ndarray:
    """Adjusted p-values: compare each with alpha to decide which features drifted.

    ``bonferroni`` controls the chance of any false flag; ``fdr`` (Benjamini-Hochberg)
    the expected share of false flags among the flagged, which keeps more power
    when many features change a little.
    """
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    if method == "bonferroni":
        return np.minimum(1.0, p * p.size)
    if method == "fdr":
        order = np.argsort(p)
        ranked = p[order] * p.size / np.arange(1, p.size + 1)
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        adjusted = np.empty_like(p)
        adjusted[order] = np.minimum(1.0, ranked)
        return adjusted
    raise ValueError(f"unknown correction {method!r}: use one of {', '.join(CORRECTIONS)}")


def combined_p_value(p_values: Any, method: Correction) -> float:
    """One p-value for 'some feature changed' (Bonferroni, or Simes for ``fdr``)."""
    adjusted = adjust(p_values, method)
    return float(adjusted.min()) if adjusted.size else 1.0
