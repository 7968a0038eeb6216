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


def _expected(reference: np.ndarray, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected counts of each 2 x k table (rows of ``reference`` and ``batch``) if nothing changed."""
    m = reference.sum(axis=1, keepdims=True)
    n = batch.sum(axis=1, keepdims=True)
    share = (reference + batch) / (m + n)
    return m * share, n * share


def _pearson(reference: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Pearson chi-squared of each 2 x k table given as rows of ``reference`` and ``batch``."""
    expected_reference, expected_batch = _expected(reference, batch)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (reference - expected_reference) ** 2 / expected_reference
        terms += (batch - expected_batch) ** 2 / expected_batch
    return np.nansum(terms, axis=1)


@dataclass(frozen=True)
class ClassBalanceTest:
    statistic: float  # likelihood-ratio (G) chi-squared of the 2 x k table
    p_value: float
    distance: float  # total variation distance between the class shares, in [0, 1]
    class_p_values: np.ndarray  # exact two-sided p-value of each class's share


def compare_classes(reference: np.ndarray, batch: np.ndarray, seed: int = 0) -> ClassBalanceTest:
    """Did the class balance change? One p-value for both kinds of change that matter.

    Combines (Fisher's method) the likelihood-ratio chi-squared test of all shares
    with the most extreme exact per-class test, so a class that vanishes is caught
    as early as a spread-out change. The combination is calibrated on tables drawn
    with the observed margins, so it holds its level at any batch size.
    """
    reference = np.asarray(reference, dtype=float)
    batch = np.asarray(batch, dtype=float)
    k, m, n = len(reference), reference.sum(), batch.sum()
    if k < 2 or m == 0 or n == 0:
        return ClassBalanceTest(0.0, 1.0, 0.0, np.ones(k))
    distance = 0.5 * float(np.abs(reference / m - batch / n).sum())
    pooled = (reference + batch).astype(np.int64)
    drawn = np.random.default_rng(seed).multivariate_hypergeometric(pooled, int(n), size=SIMULATIONS)
    batches = np.vstack([batch[None, :], drawn.astype(float)])
    references = pooled[None, :] - batches
    g = _likelihood_ratio(references, batches)
    per_class = _class_p_values(pooled, batches, int(m + n), int(n))
    p_g, p_class = _rank_p_values(g), _rank_p_values(-per_class.min(axis=1))
    combined = np.log(p_g) + np.log(p_class)  # smaller = more extreme (Fisher's method)
    exceed = int(np.sum(combined[1:] <= combined[0] + 1e-12))
    p_value = (1 + exceed) / (1 + SIMULATIONS)
    if exceed == 0:  # beyond the simulation's resolution: Bonferroni of the asymptotic tests
        asymptotic = 2 * min(float(stats.chi2.sf(g[0], k - 1)), k * float(per_class[0].min()))
        p_value = min(p_value, asymptotic)
    return ClassBalanceTest(float(g[0]), float(p_value), distance, per_class[0])


def _likelihood_ratio(reference: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """G statistic (likelihood-ratio chi-squared) of each 2 x k table."""
    expected_reference, expected_batch = _expected(reference, batch)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(batch > 0, batch * np.log(batch / expected_batch), 0.0)
        terms += np.where(reference > 0, reference * np.log(reference / expected_reference), 0.0)
    return 2 * np.nansum(terms, axis=1)


def _class_p_values(pooled: np.ndarray, batches: np.ndarray, total: int, n: int) -> np.ndarray:
    """Two-sided hypergeometric p-value of each class count in each batch (rows).

    Every batch shares the margins, so each class's tail probabilities are
    tabulated once over 0..n and looked up.
    """
    support = np.arange(n + 1)
    pmf = stats.hypergeom.pmf(support[None, :], total, pooled[:, None], n)  # (classes, n + 1)
    low = np.cumsum(pmf, axis=1)
    high = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    two_sided = np.minimum(1.0, 2 * np.minimum(low, high))
    two_sided[pooled == 0] = 1.0
    counts = np.clip(batches.astype(np.int64), 0, n)
    return two_sided[np.arange(len(pooled))[None, :], counts]


def _rank_p_values(statistics: np.ndarray) -> np.ndarray:
    """P-value of every entry (larger = more extreme) against the simulated ones (entries 1:)."""
    simulated = np.sort(statistics[1:])
    beyond = len(simulated) - np.searchsorted(simulated, statistics - 1e-9, side="left")
    return (1 + beyond) / (1 + len(simulated))
