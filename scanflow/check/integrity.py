"""Data integrity: is the batch well-formed before anyone asks whether it drifted?

The schema is learned from the reference: columns and their kinds, whether
values may be missing or infinite, the range of numbers (widened on each side
by ``range_margin`` times its span, so only gross errors such as unit changes
or sentinel values like -999 fire, and never below zero for columns that never
were), and the levels of
categorical columns. Anything can be overridden per column with ``rules``.
A batch with any problem gets the verdict ``drift``, one feature per problem.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from scanflow.check.base import Checker, CheckerError, CheckResult, FeatureDrift, require_at_least
from scanflow.check.inputs import MISSING_LEVEL, as_frame, category_values, is_numeric, numeric_values

MAX_LEVELS = 100
RULE_KEYS = {"kind", "nullable", "min", "max", "levels", "finite"}


class IntegrityChecker(Checker):
    """Schema, dtypes, missing columns, NaN/inf, out-of-range values, new levels and row counts."""

    name = "integrity"

    def __init__(
        self,
        rules: dict[str, dict[str, Any]] | None = None,
        range_margin: float = 3.0,
        min_rows: int = 1,
        max_rows: int | None = None,
        allow_extra_columns: bool = False,
    ) -> None:
        require_at_least(0, range_margin=range_margin, min_rows=min_rows)
        require_at_least(min_rows, max_rows=max_rows)
        rules = rules or {}
        for column, rule in rules.items():
            unknown = set(rule) - RULE_KEYS
            if unknown:
                raise CheckerError(
                    f"rule for column {column!r} has unknown key(s) {sorted(unknown)}:"
                    f" use {', '.join(sorted(RULE_KEYS))}"
                )
        super().__init__(
            rules=rules,
            range_margin=range_margin,
            min_rows=min_rows,
            max_rows=max_rows,
            allow_extra_columns=allow_extra_columns,
        )
        self.schema: dict[str, dict[str, Any]] = {}

    def fit(self, reference: Any) -> Self:
        frame = as_frame(reference)
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
        margin = self.config["range_margin"]
        self.schema = {}
        for column in frame.columns:
            series = frame[column]
            rule: dict[str, Any] = {"nullable": bool(series.isna().any())}
            if is_numeric(series):
                values = numeric_values(series)
                finite = values[np.isfinite(values)]
                rule.update(kind="numeric", finite=bool(np.isfinite(values[~np.isnan(values)]).all()))
                if finite.size:
                    low, high = float(finite.min()), float(finite.max())
                    span = (high - low) or max(abs(high), 1.0)
                    rule["min"] = low - margin * span if low < 0 else max(0.0, low - margin * span)
                    rule["max"] = high + margin * span
            else:
                levels = sorted({str(v) for v in category_values(series)} - {MISSING_LEVEL})
                rule.update(kind="categorical", levels=levels if len(levels) <= MAX_LEVELS else None)
            self.schema[column] = rule
        for column, rule in self.config["rules"].items():
            self.schema.setdefault(column, {"kind": rule.get("kind", "numeric"), "nullable": True})
            self.schema[column].update(rule)
        self._mark_fitted()
        return self

    def get_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"schema": self.schema}, {}

    def set_state(self, values: dict[str, Any], arrays: dict[str, Any]) -> None:
        self.schema = values["schema"]

    def check(self, batch: Any) -> CheckResult:
        self._require_fitted()
        frame = as_frame(batch, columns=list(self.schema))
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
        n = len(frame)
        problems: list[FeatureDrift] = []

        def problem(feature: str, share: float, detail: str) -> None:
            problems.append(FeatureDrift(feature, float(share), None, True, detail))

        min_rows, max_rows = self.config["min_rows"], self.config["max_rows"]
        if n < min_rows:
            problem("<rows>", 1.0, f"{n} row(s), expected at least {min_rows}")
        if max_rows is not None and n > max_rows:
            problem("<rows>", 1.0, f"{n} rows, expected at most {max_rows}")
        extra = [c for c in frame.columns if c not in self.schema]
        if extra and not self.config["allow_extra_columns"]:
            shown = ", ".join(repr(c) for c in extra[:5])
            problem("<columns>", 1.0, f"unexpected column(s) {shown}")
        for column, rule in self.schema.items():
            if column not in frame.columns:
                problem(column, 1.0, "column missing")
                continue
            if n:
                self._check_column(column, frame[column], rule, problem)
        problems.sort(key=lambda f: -f.statistic)
        return CheckResult(
            checker=self.name,
            verdict="drift" if problems else "ok",
            score=max((p.statistic for p in problems), default=0.0),
            p_value=None,
            threshold=0.0,
            n=n,
            features=problems,
            explanation=_explain(problems, n, len(self.schema)),
        )

    def _check_column(self, column: str, series: Any, rule: dict[str, Any], problem: Any) -> None:
        n = len(series)
        missing = series.isna().to_numpy()
        if missing.any() and not rule.get("nullable", True):
            detail = f"{missing.sum()} missing value(s) ({missing.mean():.0%}), none allowed"
            problem(column, missing.mean(), detail)
        if rule.get("kind") == "numeric":
            values = numeric_values(series)
            not_numbers = np.isnan(values) & ~missing
            if not_numbers.any():
                examples = ", ".join(repr(v) for v in series[not_numbers].astype(str).unique()[:3])
                detail = f"{not_numbers.sum()} value(s) are not numbers, e.g. {examples}"
                problem(column, not_numbers.mean(), detail)
            infinite = np.isinf(values)
            if infinite.any() and rule.get("finite", True):
                problem(column, infinite.mean(), f"{infinite.sum()} infinite value(s)")
            finite = np.where(np.isfinite(values), values, np.nan)
            with np.errstate(invalid="ignore"):
                low = finite < rule["min"] if rule.get("min") is not None else np.zeros(n, bool)
                high = finite > rule["max"] if rule.get("max") is not None else np.zeros(n, bool)
            if low.any() or high.any():
                outside = low | high
                bounds = f"[{_num(rule.get('min'))}, {_num(rule.get('max'))}]"
                worst = np.nanmin(finite[low]) if low.any() else np.nanmax(finite[high])
                problem(
                    column,
                    outside.mean(),
                    f"{outside.sum()} value(s) outside {bounds}, e.g. {_num(worst)}",
                )
        elif rule.get("levels") is not None:
            values = category_values(series).astype(str)
            known = set(rule["levels"]) | {MISSING_LEVEL}
            new = np.array([v not in known for v in values])
            if new.any():
                levels = sorted({str(v) for v in values[new]})
                shown = ", ".join(repr(v) for v in levels[:5]) + (" ..." if len(levels) > 5 else "")
                problem(column, new.mean(), f"{new.sum()} value(s) with new level(s) {shown}")


def _explain(problems: list[FeatureDrift], n: int, columns: int) -> str:
    if not problems:
        return f"The batch is well-formed: {n} rows, {columns} columns match the reference schema."
    shown = "; ".join(f"'{p.feature}': {p.detail}" for p in problems[:3])
    more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    return f"{len(problems)} integrity problem(s): {shown}{more}."


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
