"""The serving module's prediction log as a sample source.

Production inputs are what drifts; the prediction service logs each request
with what the model answered, so the log is the pool to pick from. When the
log holds probabilities, uncertainty strategies need no model at all.

The log's table and column names live in ``PredictionLogSchema`` alone: align
them there with the serving module's table.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
from sqlalchemy import JSON, Column, DateTime, Engine, MetaData, String, Table, select

from scanflow.database import DatabaseUrlError, create_tables, describe, make_engine
from scanflow.interact.sources.base import Samples, SampleSource


@dataclass(frozen=True)
class PredictionLogSchema:
    """Names of the prediction log's table and columns (one row per prediction)."""

    table: str = "scanflow_predictions"
    id: str = "id"  # text: unique across servers
    created_at: str = "created_at"
    model_name: str = "model_name"
    model_version: str = "model_version"
    input: str = "input"  # JSON: a list of numbers, a nested list (an image) or {feature: value}
    output: str = "output"  # JSON: the prediction, or {"prediction": ...}
    probabilities: str = "probabilities"  # JSON, nullable: a list, or {class: probability}
    holds: str = "scanflow_prediction_holds"  # ids retention must keep (queued for labelling)


PREDICTION_LOG = PredictionLogSchema()


def prediction_log_table(metadata: MetaData, schema: PredictionLogSchema = PREDICTION_LOG) -> Table:
    """The log's table as SQLAlchemy sees it (to read it, or to create one for tests and demos)."""
    return Table(
        schema.table,
        metadata,
        Column(schema.id, String(64), primary_key=True),
        Column(schema.created_at, DateTime(timezone=True), nullable=False),
        Column(schema.model_name, String(200), nullable=False),
        Column(schema.model_version, String(50), nullable=False),
        Column(schema.input, JSON, nullable=False),
        Column(schema.output, JSON, nullable=False),
        Column(schema.probabilities, JSON, nullable=True),
    )


def prediction_holds_table(metadata: MetaData, schema: PredictionLogSchema = PREDICTION_LOG) -> Table:
    """Ids of logged predictions that the log's retention (``serve --log-keep``) must not delete."""
    return Table(
        schema.holds,
        metadata,
        Column("prediction_id", String(64), primary_key=True),
        Column("reason", String(200), nullable=False),
        Column("held_at", DateTime(timezone=True), nullable=False),
    )


class PredictionLogError(ValueError):
    """The prediction log cannot be read as samples."""


class PredictionLogSource(SampleSource):
    """Logged predictions of one model (optionally one version, since a time, the latest ``limit``)."""

    kind: ClassVar[str] = "prediction-log"

    def __init__(
        self,
        url: str,
        *,
        model_name: str | None = None,
        model_version: str | None = None,
        since: datetime.datetime | str | None = None,
        limit: int | None = None,
        schema: PredictionLogSchema = PREDICTION_LOG,
    ):
        self.url = url
        self.model_name = model_name
        self.model_version = model_version
        self.since = datetime.datetime.fromisoformat(since) if isinstance(since, str) else since
        self.limit = limit
        self.schema = schema

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": self.kind, "url": self.url}
        for key in ("model_name", "model_version", "limit"):
            if getattr(self, key) is not None:
                spec[key] = getattr(self, key)
        if self.since is not None:
            spec["since"] = self.since.isoformat()
        if self.schema != PREDICTION_LOG:
            spec["schema"] = asdict(self.schema)
        return spec

    def describe(self) -> str:
        which = f" of model '{self.model_name}'" if self.model_name else ""
        return f"prediction log{which} in {describe(self.url)} (table '{self.schema.table}')"

    def load(self) -> Samples:
        engine = self._engine()
        table = prediction_log_table(MetaData(), self.schema)
        c = table.c
        query = select(table).order_by(c[self.schema.created_at].desc(), c[self.schema.id].desc())
        if self.model_name is not None:
            query = query.where(c[self.schema.model_name] == self.model_name)
        if self.model_version is not None:
            query = query.where(c[self.schema.model_version] == str(self.model_version))
        if self.since is not None:
            query = query.where(c[self.schema.created_at] >= self.since)
        if self.limit is not None:
            query = query.limit(self.limit)
        try:
            with engine.connect() as connection:
                rows = connection.execute(query).mappings().all()
        except Exception as error:
            raise PredictionLogError(f"cannot read the {self.describe()}: {error}") from None
        finally:
            engine.dispose()
        return self._samples(rows[::-1])  # oldest first; with a limit, the latest predictions

    def _engine(self) -> Engine:
        try:
            return make_engine(self.url)
        except DatabaseUrlError as error:
            raise PredictionLogError(f"cannot read the prediction log: {error}") from None

    def hold(self, refs: list[str], reason: str) -> None:
        """Keep ``refs`` from the log's retention: a queued or labelled sample must stay readable."""
        if not refs:
            return
        engine = self._engine()
        metadata = MetaData()
        table = prediction_holds_table(metadata, self.schema)
        try:
            create_tables(metadata, engine)
            with engine.begin() as connection:
                held = set(
                    connection.execute(
                        select(table.c.prediction_id).where(table.c.prediction_id.in_(refs))
                    ).scalars()
                )
                now = datetime.datetime.now(datetime.UTC)
                new = [
                    {"prediction_id": ref, "reason": reason, "held_at": now}
                    for ref in refs
                    if ref not in held
                ]
                if new:
                    connection.execute(table.insert(), new)
        except Exception as error:
            raise PredictionLogError(
                f"cannot mark samples as queued in the {self.describe()}: {error}"
            ) from None
        finally:
            engine.dispose()

    def _samples(self, rows: list[Any]) -> Samples:
        s = self.schema
        if not rows:
            return Samples(ids=[], features=np.empty((0, 0)))
        inputs = [_json(row[s.input]) for row in rows]
        features, names, image_shape = _features(inputs, [row[s.id] for row in rows])
        probabilities, classes = _probabilities([_json(row[s.probabilities]) for row in rows])
        return Samples(
            ids=[str(row[s.id]) for row in rows],
            features=features,
            probabilities=probabilities,
            classes=classes,
            predictions=[_prediction(_json(row[s.output])) for row in rows],
            image_shape=image_shape,
            feature_names=names,
        )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _features(
    inputs: list[Any], row_ids: list[Any]
) -> tuple[np.ndarray, list[str] | None, tuple[int, ...] | None]:
    """Inputs as one numeric row each: lists as they are, dicts by the first row's keys."""
    if isinstance(inputs[0], dict):
        names = list(inputs[0])
        try:
            return np.asarray([[float(x[n]) for n in names] for x in inputs]), names, None
        except (KeyError, TypeError, ValueError) as error:
            bad = next(i for i, x in zip(row_ids, inputs, strict=True) if not _has_numbers(x, names))
            raise PredictionLogError(
                f"prediction {bad}: its input does not hold the numeric features {names} ({error})"
            ) from None
    try:
        arrays = np.asarray(inputs, dtype=float)
    except ValueError:
        raise PredictionLogError(
            "logged inputs are not all numeric arrays of one shape; the log must hold one sample per row"
        ) from None
    shape = tuple(arrays.shape[1:]) if arrays.ndim > 2 else None
    return arrays.reshape(len(arrays), -1), None, shape


def _has_numbers(row: dict[str, Any], names: list[str]) -> bool:
    try:
        [float(row[n]) for n in names]
    except (KeyError, TypeError, ValueError):
        return False
    return True


def _probabilities(values: list[Any]) -> tuple[np.ndarray | None, list[Any] | None]:
    """Probabilities as an array; None unless every row has them."""
    if any(v is None for v in values):
        return None, None
    if isinstance(values[0], dict):
        classes = list(values[0])
        return np.asarray([[float(v.get(str(k), v.get(k, 0.0))) for k in classes] for v in values]), classes
    array = np.asarray(values, dtype=float)
    return array, list(range(array.shape[1]))


def _prediction(output: Any) -> Any:
    if isinstance(output, dict):
        return output.get("prediction", output.get("label"))
    if isinstance(output, list) and len(output) == 1:
        return output[0]
    return output
