"""The prediction log: every predicted row, written to a database in batches.

Other parts of Scanflow read it (the interact module picks samples to label
from it), so its table is a stable interface. Table ``scanflow_predictions``,
one row per predicted input row:

=================  ===========  ==============================================
column             type         meaning
=================  ===========  ==============================================
id                 str(32) PK   sample id (random hex), unique across servers
request_id         str(32)      the request; the ``X-Request-Id`` response header
row_index          int          position of the row in its request
created_at         datetime     when the request arrived (UTC)
model_name         str          the model's registered name (or the slot name)
model_version      str          its registry version ("" when not registered)
slot               str          the served name that answered (rule files)
route              str          why: "default", "url" or the rule's name
input              JSON         the row: ``{"column": value}``, or a list
output             JSON         the model's output for the row
probabilities      JSON, null   ``{"class": probability}`` when the model gives them
latency_ms         float        time to answer the whole request
checker_scores     JSON, null   ``{"checker": score}`` of the latest windows
=================  ===========  ==============================================

Requests only append to an in-memory queue; a background thread writes what
queued up every ``flush_s`` seconds (or each ``batch_rows`` rows) in one
transaction, and computes probabilities for the batch in one call to the model.
If the database is unreachable the rows wait and are retried; past
``capacity`` waiting rows new ones are dropped and counted. Stopping the
service writes everything still queued. With ``keep_s`` the same thread
deletes rows older than that, at start and then every tenth of ``keep_s``
(at most hourly), so a long-lived service does not fill its disk; rows the
interact module queued for labelling (table ``scanflow_prediction_holds``) stay.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    select,
)
from sqlalchemy.engine import Engine

from scanflow.database import create_tables, make_engine, normalise_url
from scanflow.errors import first_line
from scanflow.interact.sources.prediction_log import prediction_holds_table
from scanflow.serve.errors import ServeSetupError

log = logging.getLogger("scanflow.serve")

TABLE_NAME = "scanflow_predictions"
metadata = MetaData()
predictions = Table(
    TABLE_NAME,
    metadata,
    Column("id", String(32), primary_key=True),
    Column("request_id", String(32), nullable=False, index=True),
    Column("row_index", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("model_name", String(256), nullable=False, index=True),
    Column("model_version", String(64), nullable=False),
    Column("slot", String(256), nullable=False),
    Column("route", String(256), nullable=False),
    Column("input", JSON, nullable=False),
    Column("output", JSON),
    Column("probabilities", JSON),
    Column("latency_ms", Float, nullable=False),
    Column("checker_scores", JSON),
)


# Ids the interact module queued for labelling: retention keeps them. One definition serves both sides.
holds = prediction_holds_table(metadata)


def open_database(url: str) -> Engine:
    """An engine on the log's database, with the table created if missing."""
    engine = make_engine(url, json_serializer=_json_text)
    create_tables(metadata, engine)
    return engine


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


def read_predictions(
    url: str, model_name: str | None = None, since: datetime | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Logged rows, oldest first (what a labelling queue reads)."""
    engine = open_database(url)
    query = select(predictions).order_by(
        predictions.c.created_at, predictions.c.request_id, predictions.c.row_index
    )
    if model_name is not None:
        query = query.where(predictions.c.model_name == model_name)
    if since is not None:
        query = query.where(predictions.c.created_at >= since)
    if limit is not None:
        query = query.limit(limit)
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]
    finally:
        engine.dispose()


@dataclass
class LoggedRequest:
    """One answered request, as queued by the request path (cheap to build)."""

    request_id: str
    created_at: float
    model: Any  # LoadedModel: its name, version and probability function
    slot: str
    route: str
    values: Any  # DataFrame or array given to the model
    names: list[str] | None  # the columns, when values is an array standing for a table
    outputs: Any
    latency_ms: float
    checker_scores: dict[str, float] | None


class PredictionLog:
    def __init__(
        self,
        url: str,
        batch_rows: int = 1000,
        flush_s: float = 0.5,
        capacity: int = 200_000,
        probabilities: bool = True,
        on_rows: Callable[[str, int], None] | None = None,
        keep_s: float | None = None,
    ):
        self.url = normalise_url(url)
        self.keep_s = keep_s
        self.pruned = 0
        self._pruned_at: float | None = None  # monotonic time of the last prune
        self.batch_rows = batch_rows
        self.flush_s = flush_s
        self.capacity = capacity
        self.probabilities = probabilities
        self.written = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._on_rows = on_rows or (lambda outcome, n: None)
        self._queue: deque[LoggedRequest] = deque()
        self._queued_rows = 0
        self._retry: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scanflow-prediction-log", daemon=True)
        self._engine: Engine | None = None

    def open(self) -> None:
        """Open the database (creating the table); `ServeSetupError` when it cannot be used."""
        if self._engine is not None:
            return
        try:
            self._engine = open_database(self.url)
        except Exception as error:
            reason = first_line(error)
            raise ServeSetupError(
                f"cannot open the prediction log {_safe(self.url)}: {reason}."
                " Fix --log-db (SCANFLOW_SERVE_LOG_DB) or start with --no-log."
            ) from None

    def start(self) -> None:
        self.open()
        self._thread.start()

    def stop(self) -> None:
        """Write everything still queued, then close the database."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        if self._engine is not None:
            self._engine.dispose()

    # ------------------------------------------------------------ hot path
    def record(self, entry: LoggedRequest) -> None:
        rows = len(entry.values)
        if self.pending + rows > self.capacity:
            self.dropped += rows
            self._on_rows("dropped", rows)
            return
        with self._lock:
            self._queue.append(entry)
            self._queued_rows += rows
        if self._queued_rows >= self.batch_rows:
            self._wake.set()

    # ------------------------------------------------------------ background
    def _run(self) -> None:
        while not self._stop.is_set():
            self._prune_when_due()
            self._wake.wait(timeout=self.flush_s)
            self._wake.clear()
            self.flush()
        for _attempt in range(3):  # stopping: write what is left, retrying a little
            if self.flush():
                return
            time.sleep(1)
        log.error("prediction log: %d rows could not be written: %s", self.pending, self.last_error)

    @property
    def pending(self) -> int:
        return self._queued_rows + len(self._retry)

    def flush(self) -> bool:
        """Write what is queued now (on the writer thread); False if the database refused."""
        while self._queue or self._retry:
            rows = self._retry
            self._retry = []
            while self._queue and len(rows) < self.batch_rows:
                with self._lock:
                    entries = [self._queue.popleft() for _ in range(min(len(self._queue), 256))]
                    self._queued_rows -= sum(len(e.values) for e in entries)
                rows.extend(self._rows(entries))
            if not self._write(rows):
                return False
        return True

    def _prune_when_due(self) -> None:
        if self.keep_s is None:
            return
        every = min(3600.0, max(1.0, self.keep_s / 10))
        if self._pruned_at is not None and time.monotonic() - self._pruned_at < every:
            return
        self._pruned_at = time.monotonic()
        self.prune(datetime.fromtimestamp(time.time() - self.keep_s, UTC))

    def prune(self, before: datetime) -> int:
        """Delete the rows logged before ``before`` but those held for labelling; the count (0 on errors)."""
        assert self._engine is not None
        try:
            with self._engine.begin() as connection:
                old = delete(predictions).where(
                    predictions.c.created_at < before, predictions.c.id.not_in(select(holds.c.prediction_id))
                )
                deleted = connection.execute(old).rowcount
        except Exception as error:  # the next round tries again; logging never stops for it
            log.warning("prediction log: cannot delete old rows (%s); will retry", first_line(error))
            return 0
        if deleted:
            self.pruned += deleted
            self._on_rows("pruned", deleted)
        return deleted

    def _write(self, rows: list[dict[str, Any]]) -> bool:
        assert self._engine is not None
        try:
            with self._engine.begin() as connection:
                connection.execute(predictions.insert(), rows)
        except Exception as error:
            self._retry = rows
            self.last_error = f"{type(error).__name__}: {first_line(error)}"
            log.warning("prediction log: cannot write %d rows (%s); will retry", len(rows), self.last_error)
            return False
        self.written += len(rows)
        self._on_rows("written", len(rows))
        self.last_error = None
        return True

    def _rows(self, entries: Sequence[LoggedRequest]) -> list[dict[str, Any]]:
        probabilities = self._probabilities(entries) if self.probabilities else {}
        rows = []
        for entry in entries:
            created = datetime.fromtimestamp(entry.created_at, UTC)
            inputs = _input_rows(entry.values, entry.names)
            outputs = _output_rows(entry.outputs, len(inputs))
            probs = probabilities.get(id(entry))
            for index, (row, output) in enumerate(zip(inputs, outputs, strict=True)):
                rows.append(
                    {
                        "id": uuid.uuid4().hex,
                        "request_id": entry.request_id,
                        "row_index": index,
                        "created_at": created,
                        "model_name": entry.model.name,
                        "model_version": entry.model.version,
                        "slot": entry.slot,
                        "route": entry.route,
                        "input": row,
                        "output": output,
                        "probabilities": probs[index] if probs is not None else None,
                        "latency_ms": entry.latency_ms,
                        "checker_scores": entry.checker_scores,
                    }
                )
        return rows

    def _probabilities(self, entries: Sequence[LoggedRequest]) -> dict[int, list[dict[str, float]]]:
        """Class probabilities of every entry, one model call per model and batch."""
        found: dict[int, list[dict[str, float]]] = {}
        by_model: dict[int, list[LoggedRequest]] = {}
        for entry in entries:
            if entry.model.proba_fn is not None and entry.model.classes is not None:
                by_model.setdefault(id(entry.model), []).append(entry)
        for group in by_model.values():
            model = group[0].model
            try:
                values = _concat([e.values for e in group])
                table = np.asarray(model.proba_fn(values))
            except Exception:
                log.debug("probabilities of %s failed", model.label, exc_info=True)
                continue
            classes = [str(c) for c in model.classes]
            start = 0
            for entry in group:
                part = table[start : start + len(entry.values)]
                start += len(entry.values)
                found[id(entry)] = [dict(zip(classes, row.tolist(), strict=True)) for row in part]
        return found


def _safe(url: str) -> str:
    """A database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the database"


def _concat(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], pd.DataFrame):
        return pd.concat(parts, ignore_index=True)
    return np.concatenate(parts)


def _input_rows(values: Any, names: list[str] | None) -> list[Any]:
    if isinstance(values, pd.DataFrame):
        return values.to_dict(orient="records")
    rows = np.asarray(values).tolist()
    return [dict(zip(names, row, strict=True)) for row in rows] if names else rows


def _output_rows(outputs: Any, count: int) -> list[Any]:
    if isinstance(outputs, pd.DataFrame):
        rows = outputs.to_dict(orient="records")
    elif isinstance(outputs, pd.Series | np.ndarray):
        rows = outputs.tolist()
    elif isinstance(outputs, list):
        rows = outputs
    else:
        rows = [outputs] * count
    return rows if len(rows) == count else [rows[i] if i < len(rows) else None for i in range(count)]
