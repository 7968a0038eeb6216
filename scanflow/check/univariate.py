"""Univariate drift: one test per column, corrected for testing many columns.

Numeric columns: Kolmogorov-Smirnov (default) or Cramér-von Mises; categorical
columns: chi-squared on level counts, where a level never seen in the reference
counts as a change and missing values are a level of their own. A numeric
column's share of missing values is tested too, so a column that production
stops filling is drift even though the values left look the same. Constant
columns and empty columns are judged without errors.
"""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy as np
from scipy import stats

from scanflow.check.base import Checker, CheckerError, CheckResult, FeatureDrift, require_at_least
from scanflow.check.contingency import compare_counts
from scanflow.check.correction import CORRECTIONS, Correction, adjust
from scanflow.check.inputs import as_frame, category_values, is_numeric, matching_columns, numeric_values
from scanflow.check.ks import ks_columns
from scanflow.check.sentences import feature_list

NumericTest = Literal["ks", "cvm"]


class UnivariateChecker(Checker):
    """Per-column two-sample tests with a Bonferroni or FDR correction."""

    name = "ks"

    def __init__(
        self,
        test: NumericTest = "ks",
        correction: Correction = "bonferroni",
        alpha: float = 0.05,
        max_reference: int = 5000,
        seed: int = 0,
    ) -> None:
        if test not in ("ks", "cvm"):
            raise CheckerError(f"unknown numeric test {test!r}: use 'ks' or 'cvm'")
        if correction not in CORRECTIONS:
            raise CheckerError(f"unknown correction {correction!r}: use one of {', '.join(CORRECTIONS)}")
        if not 0 < alpha < 1:
            raise CheckerError(f"alpha must be between 0 and 1, got {alpha}")
        require_at_least(1, max_reference=max_reference)
        super().__init__(
            test=test, correction=correction, alpha=alpha, max_reference=max_reference, seed=seed
        )
        self.test, self.correction, self.alpha = test, correction, alpha
        self.columns: list[str] = []
        self.numeric: list[str] = []
        self.categorical: list[str] = []
        self.reference = np.empty((0, 0))
        self.reference_rows = 0  # rows the reference had; at most max_reference of them are kept
        self.level_counts: dict[str, dict[str, int]] = {}

    # ---------------------------------------------------------------- fit
    def fit(self, reference: Any) -> Self:
        frame = as_frame(reference)
        if len(frame) == 0:
            raise CheckerError("the reference is empty: fit the checker on at least one row")
        rows = np.arange(len(frame))
        limit = self.config["max_reference"]
        if len(rows) > limit:  # more reference rows add nothing to a test against a small batch
            rows = np.sort(np.random.default_rng(self.config["seed"]).choice(rows, limit, replace=False))
        self.reference_rows = len(frame)
        self.columns = [str(c) for c in frame.columns]
        frame = frame.set_axis(self.columns, axis=1)
        self.numeric = [c for c in self.columns if is_numeric(frame[c])]
        self.categorical = [c for c in self.columns if c not in self.numeric]
        self.reference = _numeric_matrix(frame.iloc[rows], self.numeric)
        self.level_counts = {c: _level_counts(frame[c]) for c in self.categorical}
        self._mark_fitted()
        return self

    def get_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        values = {
            "columns": self.columns,
            "numeric": self.numeric,
            "categorical": self.categorical,
            "level_counts": self.level_counts,
            "reference_rows": self.reference_rows,
        }
        return values, {"reference": self.reference}

    def set_state(self, values: dict[str, Any], arrays: dict[str, Any]) -> None:
        self.columns, self.numeric = values["columns"], values["numeric"]
        self.categorical, self.level_counts = values["categorical"], values["level_counts"]
        self.reference = arrays["reference"]
        self.reference_rows = int(values.get("reference_rows", len(self.reference)))

    # -------------------------------------------------------------- check
    def check(self, batch: Any) -> CheckResult:
        self._require_fitted()
        frame = as_frame(batch, columns=self.columns)
        if len(frame) == 0:
            raise CheckerError("the batch is empty: pass at least one row to check")
        frame = matching_columns(frame.set_axis([str(c) for c in frame.columns], axis=1), self.columns)
        names, statistics, p_values, distances, details = [], [], [], [], []
        if self.numeric:
            current = _numeric_matrix(frame, self.numeric)
            distance, p_ks = ks_columns(self.reference, current)
            if self.test == "cvm":
                statistic, p_raw = _cvm_columns(self.reference, current)
            else:
                statistic, p_raw = distance, p_ks
            p_raw, distance = _with_missing_share(self.reference, current, p_raw, distance)
            names += self.numeric
            statistics += list(statistic)
            p_values += list(p_raw)
            distances += list(distance)
            details += [_numeric_detail(self.reference[:, j], current[:, j]) for j in range(current.shape[1])]
        for column in self.categorical:
            counts = _level_counts(frame[column])
            reference = self.level_counts[column]
            levels = sorted(set(reference) | set(counts))
            test = compare_counts(
                np.array([reference.get(level, 0) for level in levels]),
                np.array([counts.get(level, 0) for level in levels]),
            )
            names.append(column)
            statistics.append(test.statistic)
            p_values.append(test.p_value)
            distances.append(test.distance)
            details.append(_category_detail(reference, counts))
        adjusted = adjust(p_values, self.correction)
        features = [
            FeatureDrift(
                feature=name,
                statistic=float(statistic),
                p_value=float(p),
                drifted=bool(p < self.alpha),
                detail=detail,
            )
            for name, statistic, p, detail in zip(names, statistics, adjusted, details, strict=True)
        ]
        ranking = sorted(range(len(features)), key=lambda i: (adjusted[i], -distances[i]))
        features = [features[i] for i in ranking]
        p_value = float(adjusted.min()) if len(adjusted) else 1.0
        drifted = p_value < self.alpha
        return CheckResult(
            checker=self.name,
            verdict="drift" if drifted else "ok",
            score=float(max(distances, default=0.0)),
            p_value=p_value,
            threshold=self.alpha,
            n=len(frame),
            features=features,
            explanation=self._explain(features, p_value, len(frame)),
        )

    def _explain(self, features: list[FeatureDrift], p_value: float, rows: int) -> str:
        numeric = "KS" if self.test == "ks" else "Cramér-von Mises"
        tests = "/".join(([numeric] if self.numeric else []) + (["chi-squared"] if self.categorical else []))
        method = f"{tests} tests, {self.correction} correction"
        drifted = [f for f in features if f.drifted]
        if drifted:
            return (
                f"{len(drifted)} of {len(features)} features drifted ({method}, alpha {self.alpha:g}):"
                f" {feature_list(drifted)}."
            )
        return (
            f"No feature changed significantly: the smallest corrected p-value is {p_value:.2g}"
            f" ≥ alpha {self.alpha:g} ({method}).{self._power_note(rows)}"
        )

    def _power_note(self, rows: int) -> str:
        """Say so when the kept reference, not the batch, limits which shifts the tests can see."""
        kept = len(self.reference)
        if not self.numeric or kept >= self.reference_rows or rows <= kept:
            return ""
        return (
            f" The tests compared the batch with {kept} of the reference's {self.reference_rows} rows"
            f" (max_reference): a larger max_reference sees smaller shifts in a batch of {rows} rows."
        )


class CramerVonMisesChecker(UnivariateChecker):
    """The univariate checker with Cramér-von Mises for numeric columns (more power for shape changes)."""

    name = "cvm"

    def __init__(self, test: NumericTest = "cvm", **options: Any) -> None:
        super().__init__(test=test, **options)


def _numeric_matrix(frame: Any, columns: list[str]) -> np.ndarray:
    if not columns:
        return np.empty((len(frame), 0))
    return np.column_stack([numeric_values(frame[c]) for c in columns])


def _level_counts(series: Any) -> dict[str, int]:
    levels, counts = np.unique(category_values(series).astype(str), return_counts=True)
    return {str(level): int(count) for level, count in zip(levels, counts, strict=True)}


def _with_missing_share(
    reference: np.ndarray, batch: np.ndarray, p_values: np.ndarray, distances: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fold a test of each column's missing share into its p-value and distance.

    Where neither side misses a value nothing changes. Otherwise the column's
    p-value is the Bonferroni minimum of the value test and the missing-share
    test, or the latter alone when one side has no values to compare.
    """
    p_values, distances = p_values.copy(), distances.copy()
    missing_ref, missing_cur = np.isnan(reference).sum(axis=0), np.isnan(batch).sum(axis=0)
    for j in np.flatnonzero((missing_ref > 0) | (missing_cur > 0)):
        share = compare_counts(
            np.array([len(reference) - missing_ref[j], missing_ref[j]]),
            np.array([len(batch) - missing_cur[j], missing_cur[j]]),
        )
        no_values = missing_ref[j] == len(reference) or missing_cur[j] == len(batch)
        p_values[j] = share.p_value if no_values else min(1.0, 2 * min(p_values[j], share.p_value))
        distances[j] = max(distances[j], share.distance)
    return p_values, distances


def _cvm_columns(reference: np.ndarray, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    statistics, p_values = [], []
    for j in range(reference.shape[1]):
        left, right = reference[:, j], batch[:, j]
        left, right = left[~np.isnan(left)], right[~np.isnan(right)]
        if len(left) < 2 or len(right) < 2 or np.ptp(np.concatenate([left, right])) == 0:
            statistics.append(0.0)
            p_values.append(1.0)
            continue
        result = stats.cramervonmises_2samp(left, right)
        statistics.append(float(result.statistic))
        p_values.append(float(min(max(result.pvalue, 0.0), 1.0)))
    return np.array(statistics), np.array(p_values)


def _numeric_detail(reference: np.ndarray, batch: np.ndarray) -> str:
    ref, cur = reference[~np.isnan(reference)], batch[~np.isnan(batch)]
    if len(cur) == 0:
        return f"no values in the batch (missing {np.isnan(reference).mean():.0%} in the reference)"
    parts = [f"mean {_num(np.mean(ref)) if len(ref) else '-'} → {_num(np.mean(cur))}"]
    missing_ref, missing_cur = np.isnan(reference).mean(), np.isnan(batch).mean()
    if missing_cur > 0 or missing_ref > 0:
        parts.append(f"missing {missing_ref:.0%} → {missing_cur:.0%}")
    return ", ".join(parts)


def _category_detail(reference: dict[str, int], batch: dict[str, int]) -> str:
    m, n = sum(reference.values()), sum(batch.values())
    new = sorted(set(batch) - set(reference), key=lambda level: -batch[level])
    if new:
        shown = ", ".join(f"{level!r} ({batch[level] / n:.0%})" for level in new[:5])
        return f"new level(s) {shown}"
    changes = sorted(
        ((abs(batch.get(k, 0) / n - reference.get(k, 0) / m), k) for k in set(reference) | set(batch)),
        reverse=True,
    )
    if not changes or changes[0][0] == 0:
        return ""
    level = changes[0][1]
    return f"{level!r} {reference.get(level, 0) / m:.0%} → {batch.get(level, 0) / n:.0%}"


def _num(value: float) -> str:
    return f"{value:.4g}"
