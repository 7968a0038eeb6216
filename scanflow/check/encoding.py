"""Turning a table into standardized numbers, for detectors that need vectors (MMD, autoencoder).

Numeric columns are centred and scaled by the reference (missing values become
the reference mean); categorical columns become one-hot vectors over the
reference's levels, so a level never seen maps to all zeros instead of failing.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from scanflow.check.inputs import as_frame, category_values, is_numeric, matching_columns, numeric_values

MAX_LEVELS = 50


class TabularEncoder:
    def __init__(self) -> None:
        self.columns: list[str] = []
        self.numeric: list[str] = []
        self.levels: dict[str, list[str]] = {}
        self.mean = np.empty(0)
        self.scale = np.empty(0)

    def fit(self, data: Any) -> TabularEncoder:
        frame = as_frame(data)
        self.columns = [str(c) for c in frame.columns]
        frame = frame.set_axis(self.columns, axis=1)
        self.numeric = [c for c in self.columns if is_numeric(frame[c])]
        self.levels = {}
        for column in self.columns:
            if column not in self.numeric:
                levels, counts = np.unique(category_values(frame[column]).astype(str), return_counts=True)
                self.levels[column] = [str(v) for v in levels[np.argsort(-counts)][:MAX_LEVELS]]
        values = self._numeric(frame)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns: mean 0, scale 1
            self.mean = np.nan_to_num(np.nanmean(values, axis=0))
            scale = np.nan_to_num(np.nanstd(values, axis=0))
        self.scale = np.where(scale > 0, scale, 1.0)
        return self

    @property
    def width(self) -> int:
        return len(self.numeric) + sum(len(v) for v in self.levels.values())

    def feature_of_output(self) -> list[str]:
        """The original column behind each output column (one-hot columns share theirs)."""
        names = list(self.numeric)
        for column, levels in self.levels.items():
            names += [column] * len(levels)
        return names

    def transform(self, data: Any) -> np.ndarray:
        frame = as_frame(data, columns=self.columns)
        frame = matching_columns(frame.set_axis([str(c) for c in frame.columns], axis=1), self.columns)
        numbers = (self._numeric(frame) - self.mean) / self.scale
        parts = [np.nan_to_num(numbers, nan=0.0, posinf=0.0, neginf=0.0)]
        for column, levels in self.levels.items():
            values = category_values(frame[column]).astype(str)
            parts.append((values[:, None] == np.array(levels, dtype=str)[None, :]).astype(float))
        return np.concatenate(parts, axis=1) if parts else np.empty((len(frame), 0))

    def _numeric(self, frame: Any) -> np.ndarray:
        if not self.numeric:
            return np.empty((len(frame), 0))
        return np.column_stack([numeric_values(frame[c]) for c in self.numeric])

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        values = {"columns": self.columns, "numeric": self.numeric, "levels": self.levels}
        return values, {"mean": self.mean, "scale": self.scale}

    def set_state(self, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.columns, self.numeric, self.levels = values["columns"], values["numeric"], values["levels"]
        self.mean, self.scale = arrays["mean"], arrays["scale"]
