"""The two-sample Kolmogorov-Smirnov test for many columns at once.

``scipy.stats.ks_2samp`` tests one column per call with exact p-values in
O(m*n); checking 64 columns of a 500-row batch that way takes 200 ms. Here all
columns share one sort, and p-values come from the Kolmogorov distribution with
Stephens' small-sample correction: conservative for small batches, within 3%
of the exact value from an effective size m*n/(m+n) of 50 on. Below that the
approximation is too cautious, so batches of up to ``EXACT_BELOW`` rows get
SciPy's exact p-value, which is cheap at that size.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

EXACT_BELOW = 25


BLOCK_VALUES = 1_000_000  # pooled values sorted at once: some 8 arrays of this size are alive together


def ks_columns(reference: np.ndarray, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """KS statistic and p-value of every column; NaNs are ignored per column.

    A column with no values on either side gets statistic 0 and p-value 1.
    Columns go through in blocks, so memory stays bounded for large batches.
    """
    rows = len(reference) + len(batch)
    width = max(1, BLOCK_VALUES // max(rows, 1))
    if reference.shape[1] <= width:
        return _ks_block(reference, batch)
    parts = [
        _ks_block(reference[:, start : start + width], batch[:, start : start + width])
        for start in range(0, reference.shape[1], width)
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _ks_block(reference: np.ndarray, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m_counts = np.sum(~np.isnan(reference), axis=0).astype(float)
    n_counts = np.sum(~np.isnan(batch), axis=0).astype(float)
    pooled = np.ascontiguousarray(np.concatenate([reference, batch], axis=0).T)  # one row per column
    order = np.argsort(pooled, axis=1)  # NaNs sort last; order inside ties does not matter
    values = np.take_along_axis(pooled, order, axis=1)
    valid = ~np.isnan(values)
    with np.errstate(divide="ignore"):
        up, down = 1.0 / m_counts[:, None], -1.0 / n_counts[:, None]
    steps = np.where(valid, np.where(order < len(reference), up, down), 0.0)
    gaps = np.cumsum(steps, axis=1)
    end_of_ties = np.ones_like(valid)
    end_of_ties[:, :-1] = values[:, 1:] != values[:, :-1]
    statistic = np.abs(np.where(end_of_ties & valid, gaps, 0.0)).max(axis=1)
    usable = (m_counts > 0) & (n_counts > 0)
    statistic = np.where(usable, np.round(statistic, 12), 0.0)
    root = np.sqrt(np.where(usable, m_counts * n_counts / np.maximum(m_counts + n_counts, 1), 1.0))
    p_value = np.where(usable, special.kolmogorov((root + 0.12 + 0.11 / root) * statistic), 1.0)
    for j in np.flatnonzero(usable & (n_counts < EXACT_BELOW) & (p_value < 0.5)):
        left, right = reference[:, j], batch[:, j]
        exact = stats.ks_2samp(left[~np.isnan(left)], right[~np.isnan(right)], method="exact")
        p_value[j] = exact.pvalue
    return statistic, np.clip(p_value, 0.0, 1.0)
