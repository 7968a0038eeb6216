"""Checking a request against the model's signature, and shaping it for the model.

Each error names the row, the column and what the model expects, so a client
can fix its request without reading the model's MLmodel file. Checking here
(instead of in MLflow's schema enforcement) also makes the check cheap: the
common all-numeric table becomes one NumPy array and one DataFrame, no copies.

A model without a signature gets its input as a DataFrame built by pandas, and
MLflow's pyfunc decides what it accepts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from scanflow.serve.errors import BadInput
from scanflow.serve.payload import Payload

Kind = Literal["float", "int", "bool", "string", "any"]
_MISSING = object()

# What JSON value types a column of each kind takes.
_ACCEPTS: dict[Kind, frozenset[type]] = {
    "float": frozenset({float, int}),
    "int": frozenset({int}),
    "bool": frozenset({bool}),
    "string": frozenset({str}),
}
_KINDS: dict[str, tuple[Kind, Any]] = {  # MLflow column type -> (kind, NumPy dtype)
    "double": ("float", np.float64),
    "float": ("float", np.float32),
    "long": ("int", np.int64),
    "integer": ("int", np.int32),
    "boolean": ("bool", np.bool_),
    "string": ("string", object),
}
_NOUNS: dict[Kind, str] = {
    "float": "a number",
    "int": "an integer",
    "bool": "true or false",
    "string": "a string",
}


@dataclass(frozen=True)
class Prepared:
    """A request's input ready for the model: a DataFrame, or an array (tensors, fast tables)."""

    values: pd.DataFrame | np.ndarray
    rows: int
    names: list[str] | None = None  # the columns of an array that stands for a table


class InputSpec(ABC):
    """What a model takes, from its MLflow signature."""

    @abstractmethod
    def prepare(self, payload: Payload) -> Prepared:
        """The payload as model input; `BadInput` names what does not fit."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The spec as JSON for ``GET /v1/models``."""

    @property
    def names(self) -> list[str] | None:
        """Column names, when the model takes a table with named columns."""
        return None


def input_spec(schema: Any) -> InputSpec:
    """The spec of an MLflow input schema (``model.metadata.get_input_schema()``)."""
    if schema is None:
        return FreeInput()
    if schema.is_tensor_spec():
        inputs = schema.inputs
        if len(inputs) == 1 and inputs[0].name is None:
            return TensorInput(np.dtype(inputs[0].type), tuple(inputs[0].shape))
        return FreeInput()  # several named tensors: MLflow's own enforcement handles them
    return _table(
        (
            spec.name,
            getattr(getattr(spec, "type", None), "name", str(getattr(spec, "type", "any"))),
            getattr(spec, "required", True),
        )
        for spec in schema.inputs
    )


def stored_input_spec(inputs: list[dict[str, Any]]) -> InputSpec | None:
    """The spec of a signature's inputs as the MLmodel file stores them (parsed JSON).

    None for column types only MLflow's own schema classes describe (arrays,
    objects, maps), so that such a model is loaded through MLflow.
    """
    if inputs and all(spec.get("type") == "tensor" for spec in inputs):
        if len(inputs) == 1 and inputs[0].get("name") is None:
            tensor = inputs[0]["tensor-spec"]
            return TensorInput(np.dtype(tensor["dtype"]), tuple(tensor["shape"]))
        return FreeInput()
    if any(spec.get("type") not in _KINDS for spec in inputs):
        return None
    return _table((spec.get("name"), spec["type"], spec.get("required", True)) for spec in inputs)


def _table(columns: Iterable[tuple[str | None, str, bool]]) -> TableInput:
    """A table spec from (name, MLflow type name, required) per column, in order."""
    specs = []
    for position, (name, type_name, required) in enumerate(columns):
        kind, dtype = _KINDS.get(type_name, ("any", object))
        specs.append(Column(name, position, kind, type_name, dtype, required))
    return TableInput(specs)


@dataclass(frozen=True)
class Column:
    name: str | None
    position: int
    kind: Kind
    type_name: str
    dtype: Any
    required: bool

    def label(self) -> str:
        return f"'{self.name}'" if self.name is not None else f"#{self.position}"

    def accepts(self, value: Any) -> bool:
        if value is None:  # a missing value; integer and boolean columns cannot hold one
            return not self.required and self.kind not in ("int", "bool")
        accepted = _ACCEPTS.get(self.kind)
        return accepted is None or type(value) in accepted


class TableInput(InputSpec):
    """A model that takes a table: columns with names and types."""

    def __init__(self, columns: list[Column]):
        self.columns = columns
        # Set by the loader when the model was shown to take a plain array in column order:
        # building a DataFrame and having scikit-learn check its names costs more than predicting.
        self.array_ok = False
        self.named = all(c.name is not None for c in columns)
        self._names = [c.name for c in columns] if self.named else None
        self._index = {c.name: c for c in columns}
        dtypes = {np.dtype(c.dtype) for c in columns}
        self.dtype = (
            dtypes.pop() if len(dtypes) == 1 and all(c.kind in ("float", "int") for c in columns) else None
        )

    @property
    def names(self) -> list[str] | None:
        return self._names

    @property
    def numeric(self) -> bool:
        """All columns are numbers of one dtype: the request can become one array."""
        return self.dtype is not None

    def describe(self) -> dict[str, Any]:
        return {
            "type": "table",
            "columns": [{"name": c.name, "type": c.type_name, "required": c.required} for c in self.columns],
        }

    def prepare(self, payload: Payload) -> Prepared:
        rows = self._rows(payload)
        if not rows:
            raise BadInput("the request has no rows to predict")
        self._check(rows)
        if self.dtype is not None:
            array = np.asarray(rows, dtype=self.dtype)
            if self.array_ok:
                return Prepared(array, len(rows), self._names)
            frame = pd.DataFrame(array, columns=self._names, copy=False)
        else:
            frame = pd.DataFrame(
                {
                    c.name if self.named else c.position: np.asarray(
                        [r[c.position] for r in rows], dtype=c.dtype
                    )
                    for c in self.columns
                }
            )
        return Prepared(frame, len(rows))

    # --------------------------------------------------------------- shapes
    def _rows(self, payload: Payload) -> list[list[Any]]:
        data = payload.data
        if payload.format == "dataframe_split":
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise BadInput(
                    "'dataframe_split' must be an object with 'data' (a list of rows) and 'columns';"
                    ' example: {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}'
                )
            columns = data.get("columns")
            if columns is None:
                return data["data"]
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
                raise BadInput("'columns' of 'dataframe_split' must be a list of column names")
            return self._reorder(columns, data["data"])
        if payload.format == "dataframe_records":
            if not isinstance(data, list):
                raise BadInput("'dataframe_records' must be a list of objects like {\"column\": value}")
            return self._from_records(data)
        # instances / inputs
        if isinstance(data, dict):
            return self._from_columns(data)
        if not isinstance(data, list):
            raise BadInput(f"'{payload.format}' must be a list of rows or an object of columns")
        if data and isinstance(data[0], dict):
            return self._from_records(data)
        if data and not isinstance(data[0], list) and len(self.columns) == 1:
            return [[value] for value in data]
        return data

    def _reorder(self, columns: list[str], rows: list[Any]) -> list[Any]:
        if columns == self._names:
            return rows
        self._check_names(columns, "'columns'")
        if len(set(columns)) != len(columns):
            duplicated = sorted({c for c in columns if columns.count(c) > 1})
            raise BadInput(f"duplicated column(s) in 'columns': {_quoted(duplicated)}")
        where = {name: i for i, name in enumerate(columns)}
        order = [where.get(c.name) for c in self.columns]
        width = len(columns)
        reordered = []
        for number, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                raise BadInput(
                    f"row {number} must be a list of {width} values, one per entry of 'columns'"
                    f"; got {_describe(row)}"
                )
            reordered.append([None if i is None else row[i] for i in order])
        return reordered

    def _from_records(self, records: list[Any]) -> list[list[Any]]:
        if not self.named:
            raise BadInput(
                'this model\'s columns have no names; send rows as lists, e.g. {"inputs": [[...]]}'
            )
        columns = self.columns
        rows = []
        for number, record in enumerate(records):
            if not isinstance(record, dict):
                raise BadInput(
                    f'record {number} must be an object like {{"column": value}}; got {_describe(record)}'
                )
            row = [record.get(c.name, _MISSING) for c in columns]
            if len(record) != len(columns) or _MISSING in row:
                self._check_names(list(record), f"record {number}")
                row = [None if value is _MISSING else value for value in row]
            rows.append(row)
        return rows

    def _from_columns(self, data: dict[str, Any]) -> list[list[Any]]:
        self._check_names(list(data), "the input object")
        lengths = {name: len(values) for name, values in data.items() if isinstance(values, list)}
        if len(lengths) != len(data) or len(set(lengths.values())) > 1:
            raise BadInput("an object of columns must map each column to a list of values, all of one length")
        length = next(iter(lengths.values()), 0)
        return [[data[c.name][i] if c.name in data else None for c in self.columns] for i in range(length)]

    def _check_names(self, given: list[str], where: str) -> None:
        if not self.named:
            raise BadInput(
                'this model\'s columns have no names; send rows as lists, e.g. {"inputs": [[...]]}'
            )
        unknown = [name for name in given if name not in self._index]
        missing = [c.name for c in self.columns if c.required and c.name not in given]
        problems = []
        if missing:
            problems.append(f"missing column(s) {_quoted(missing)}")
        if unknown:
            problems.append(f"unknown column(s) {_quoted(unknown)}")
        if problems:
            raise BadInput(f"{where}: {'; '.join(problems)}. The model takes {self._summary()}")

    # ---------------------------------------------------------------- cells
    def _check(self, rows: list[Any]) -> None:
        width = len(self.columns)
        columns = self.columns
        for number, row in enumerate(rows):
            if type(row) is not list or len(row) != width:
                raise BadInput(
                    f"row {number} must be a list of {width} values; got {_describe(row)}."
                    f" The model takes {self._summary()}"
                )
            for value, column in zip(row, columns, strict=True):
                if not column.accepts(value):
                    raise BadInput(_cell_error(number, column, value))

    def _summary(self) -> str:
        names = [c.name if c.name is not None else f"#{c.position}" for c in self.columns]
        shown = (
            ", ".join(names) if len(names) <= 8 else f"{', '.join(names[:3])}, ..., {', '.join(names[-2:])}"
        )
        return f"{len(names)} column(s): {shown}"


class TensorInput(InputSpec):
    """A model that takes one array of a fixed dtype and shape (-1 for any size)."""

    def __init__(self, dtype: np.dtype, shape: tuple[int, ...]):
        self.dtype = dtype
        self.shape = shape

    def describe(self) -> dict[str, Any]:
        return {"type": "tensor", "dtype": str(self.dtype), "shape": list(self.shape)}

    def prepare(self, payload: Payload) -> Prepared:
        data = payload.data
        if payload.format == "dataframe_split" and isinstance(data, dict):
            data = data.get("data")
        if payload.format == "dataframe_records" or not isinstance(data, list):
            raise BadInput(
                f"this model takes an array of shape {_shape(self.shape)} ({self.dtype});"
                ' send it as {"inputs": [[...], ...]}'
            )
        if not data:
            raise BadInput("the request has no rows to predict")
        try:
            array = np.asarray(data)
        except ValueError:
            raise BadInput(
                f"the rows have different lengths; the model takes shape {_shape(self.shape)}"
            ) from None
        if array.dtype.kind not in _TENSOR_KINDS.get(self.dtype.kind, array.dtype.kind):
            found = {
                "U": "strings",
                "O": "nulls or mixed values",
                "b": "booleans",
                "f": "fractional numbers",
            }.get(array.dtype.kind, str(array.dtype))
            raise BadInput(f"the model takes {self.dtype} values; the input holds {found}")
        if array.ndim != len(self.shape) or any(
            want not in (-1, got) for want, got in zip(self.shape, array.shape, strict=False)
        ):
            hint = " (wrap a single row in a list)" if array.ndim == len(self.shape) - 1 else ""
            raise BadInput(
                f"the input has shape {_shape(array.shape)}, the model takes {_shape(self.shape)}{hint}"
            )
        return Prepared(array.astype(self.dtype, copy=False), len(array))


_TENSOR_KINDS = {"f": "fiu", "i": "iu", "u": "u", "b": "b"}


class FreeInput(InputSpec):
    """A model without a signature: pandas builds the table, the model judges it."""

    def describe(self) -> dict[str, Any]:
        return {"type": "any"}

    def prepare(self, payload: Payload) -> Prepared:
        data = payload.data
        try:
            if payload.format == "dataframe_split":
                frame = pd.DataFrame(data["data"], columns=data.get("columns"))
            elif isinstance(data, list) and data and not isinstance(data[0], dict):
                return Prepared(np.asarray(data), len(data))
            else:
                frame = pd.DataFrame(data)
        except Exception as error:
            raise BadInput(f"the input does not make a table: {error}") from None
        if frame.empty:
            raise BadInput("the request has no rows to predict")
        return Prepared(frame, len(frame))


def _cell_error(number: int, column: Column, value: Any) -> str:
    noun = _NOUNS.get(column.kind, "a value")
    found = "null" if value is None else f"{_describe(value)}"
    return f"row {number}, column {column.label()}: expected {noun} ({column.type_name}), got {found}"


def _describe(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 30 else value[:27] + "..."
        return f"the string {text!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, list):
        return f"a list of {len(value)} value(s)"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    return f"the number {value}"


def _quoted(names: list[str]) -> str:
    shown = [f"'{n}'" for n in names[:5]]
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return ", ".join(shown) + more


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join("any" if d == -1 else str(d) for d in shape) + ")"
