"""Two-sample tests on counts of categories (levels of a column, classes of a model).

The chi-squared approximation misleads when expected counts are small (a batch
of 10 rows over 10 classes); then the p-value comes from tables drawn with the
same margins (as R's ``chisq.test(simulate.p.value=TRUE)``), which is exact in
the limit and costs a few milliseconds. Beyond the simulation's resolution
(no simulated table as extreme) the chi-squared tail takes over, so a brand-new
level still gets a p-value small enough to survive a correction over many columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

SIMULATIONS = 2000
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class CountTest:
    statistic: float  # Pearson chi-squared of the 2 x k table
    p_value: float
    distance: float  # total variation distance between the two proportions, in [0, 1]


def compare_counts(reference: np.ndarray, batch: np.ndarray, seed: int = 0) -> CountTest:
    """Did the category proportions change between ``reference`` and ``batch`` counts?"""
    reference = np.asarray(reference, dtype=float)
    batch = np.asarray(batch, dtype=float)
    keep = (reference + batch) > 0
    reference, batch = reference[keep], batch[keep]
    m, n = reference.sum(), batch.sum()
    if len(reference) < 2 or m == 0 or n == 0:
        return CountTest(0.0, 1.0, 0.0)
    distance = 0.5 * float(np.abs(reference / m - batch / n).sum())
    statistic = _pearson(reference[None, :], batch[None, :])[0]
    expected = np.outer([m, n], (reference + batch) / (m + n))
    if expected.min() >= MIN_EXPECTED:
        p_value = float(stats.chi2.sf(statistic, len(reference) - 1))
    else:
        rng = np.random.default_rng(seed)
        pooled = (reference + batch).astype(np.int64)
        drawn = rng.multivariate_hypergeometric(pooled, int(n), size=SIMULATIONS).astype(float)
        simulated = _pearson(pooled[None, :] - drawn, drawn)
        exceed = int(np.sum(simulated >= statistic - 1e-9))
        p_value = (1 + exceed) / (1 + SIMULATIONS)
        if exceed == 0:  # beyond what the simulation resolves: the tail of the approximation
            p_value = min(p_value, float(stats.chi2.sf(statistic, len(reference) - 1)))
    return CountTest(float(statistic), p_value, distance)


def _pearson(reference: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Pearson chi-squared of each 2 x k table given as rows of ``reference`` and ``batch``."""
    totals = reference + batch
    m = reference.sum(axis=1, keepdims=True)
    n = batch.sum(axis=1, keepdims=True)
    share = totals / (m + n)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (reference - m * share) ** 2 / (m * share) + (batch - n * share) ** 2 / (n * share)
    return np.nansum(terms, axis=1)


def compare_one_class(reference: int, m: int, batch: int, n: int) -> float:
    """Exact two-sided p-value that one class's share differs (Fisher's exact test)."""
    table = [[batch, n - batch], [reference, m - reference]]
    return float(stats.fisher_exact(table).pvalue)
