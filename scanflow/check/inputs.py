"""Turning what users hand a checker (arrays, DataFrames, images) into one tabular shape.

Every checker sees a pandas DataFrame: numeric columns and categorical columns
(text, categories, booleans). Arrays get column names ``x0, x1, ...``; images
``(n, h, w[, c])`` are flattened to one column per pixel value.
"""

from __future__ import annotations

from typing import Any

from scanflow.check.base import CheckerError
from scanflow.check.optional import import_optional


def as_frame(data: Any, columns: list[str] | None = None) -> Any:
    """``data`` as a DataFrame (no copy when it already is one)."""
    pd = import_optional("pandas", "check")
    np = import_optional("numpy", "check")
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame(name=str(data.name) if data.name is not None else "x")
    if isinstance(data, dict):
        return pd.DataFrame(data)
    array = np.asarray(data)
    if array.dtype == object and array.ndim == 1 and len(array) and isinstance(array[0], dict):
        return pd.DataFrame(list(array))
    if array.ndim == 0:
        raise CheckerError("expected rows of data, got a single value; pass an array or a DataFrame")
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim > 2:
        array = array.reshape(len(array), -1)
    names = columns or [f"x{i}" for i in range(array.shape[1])]
    if len(names) != array.shape[1]:
        raise CheckerError(f"the data has {array.shape[1]} columns but the reference had {len(names)}")
    return pd.DataFrame(array, columns=names)


def is_numeric(series: Any) -> bool:
    """Numbers (and datetimes) are compared as numbers; everything else as categories."""
    pd = import_optional("pandas", "check")
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    return bool(pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype))


def numeric_values(series: Any) -> Any:
    """A column as float64 (datetimes as seconds); text that is not a number becomes NaN."""
    pd = import_optional("pandas", "check")
    np = import_optional("numpy", "check")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = series.astype("int64").to_numpy(dtype="float64") / 1e9
        values[series.isna().to_numpy()] = np.nan
        return values
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


MISSING_LEVEL = "<missing>"


def category_values(series: Any) -> Any:
    """A column as text levels; missing values become the level ``<missing>``."""
    np = import_optional("numpy", "check")
    values = series.astype(object).to_numpy()
    missing = series.isna().to_numpy()
    text = np.array([str(v) for v in values], dtype=object)
    text[missing] = MISSING_LEVEL
    return text


def matching_columns(frame: Any, expected: list[str], what: str = "reference") -> Any:
    """``frame`` restricted to ``expected`` columns, or a clear error naming the missing ones."""
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        shown = ", ".join(repr(c) for c in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise CheckerError(
            f"the batch lacks {len(missing)} column(s) of the {what}: {shown};"
            " check the column names, or refit the checker on data with the new schema"
        )
    return frame[expected]
