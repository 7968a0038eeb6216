"""The prediction log on SQLite and PostgreSQL: what a server writes, and the writer on its own."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy

from scanflow.serve.model import load_model
from scanflow.serve.prediction_log import (
    TABLE_NAME,
    LoggedRequest,
    PredictionLog,
    open_database,
    read_predictions,
)
from scanflow.serve.registry import ModelSource, Registry

from .serving import Server, Store, postgres_url, split_body, wait_for


def _empty(url: str) -> str:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {TABLE_NAME}"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'predictions.db'}"
    return _empty(postgres_url())


def test_a_server_logs_every_row_with_model_output_probabilities_and_latency(
    start_server, store: Store, database: str
) -> None:
    server: Server = start_server("models:/digits@champion", "--log-db", database, "--report-every", "0")
    request_ids = []
    with server.client() as client:
        for start in (0, 3, 6):
            response = client.post("/invocations", json=split_body(store, start, 3))
            request_ids.append(response.headers["x-request-id"])
    rows = wait_for(lambda: len(found := read_predictions(database)) == 9 and found, message="9 logged rows")
    assert server.stop() == 0
    assert [r["request_id"] for r in rows] == [i for i in request_ids for _ in range(3)]
    assert [r["row_index"] for r in rows] == [0, 1, 2] * 3
    assert len({r["id"] for r in rows}) == 9
    for number, row in enumerate(rows):
        assert (row["model_name"], row["model_version"], row["slot"], row["route"]) == (
            "digits",
            "1",
            "digits",
            "default",
        )
        assert row["input"] == dict(zip(store.columns, store.x[number], strict=True))
        assert row["output"] == store.expected_v1[number]
        probabilities = row["probabilities"]
        assert sorted(probabilities) == [str(c) for c in range(10)]
        assert abs(sum(probabilities.values()) - 1) < 1e-9
        assert max(probabilities, key=probabilities.get) == str(row["output"])
        assert row["latency_ms"] > 0
        assert row["checker_scores"] is None
    assert rows[0]["created_at"] <= rows[-1]["created_at"]


def test_stopping_the_server_writes_what_is_queued(start_server, store: Store, tmp_path) -> None:
    database = f"sqlite:///{tmp_path / 'predictions.db'}"
    server: Server = start_server("models:/digits@champion", "--log-db", database, "--report-every", "0")
    with server.client() as client:
        for row in range(40):
            client.post("/invocations", json={"inputs": [store.x[row]]})
    assert server.stop() == 0  # SIGTERM right away, well inside the half-second flush interval
    assert [r["output"] for r in read_predictions(database)] == store.expected_v1[:40]


def test_a_database_that_cannot_be_opened_stops_the_server_before_it_binds(start_server) -> None:
    server: Server = start_server(
        "models:/digits@champion", "--log-db", "postgresql://nobody:pw@127.0.0.1:1/none", wait=False
    )
    assert server.process.wait(timeout=120) == 1
    logs = server.logs()
    assert "cannot open the prediction log" in logs and "--no-log" in logs
    assert "pw@" not in logs  # the password stays out of messages
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/health", timeout=1)


# ------------------------------------------------------------ the writer alone
@pytest.fixture(scope="module")
def digits(store: Store):
    return load_model(Registry(store.tracking_uri).resolve(ModelSource.parse("models:/digits/1")))


def _request(model, values, number: int) -> LoggedRequest:
    return LoggedRequest(
        request_id=f"{number:032x}",
        created_at=time.time(),
        model=model,
        slot="digits",
        route="default",
        values=values,
        names=None,
        outputs=model.predict(values),
        latency_ms=1.5,
        checker_scores={"mean_shift": 0.25},
    )


def test_the_writer_batches_thousands_of_rows(digits, store: Store, database: str) -> None:
    written: list[int] = []
    log = PredictionLog(database, batch_rows=500, flush_s=0.2, on_rows=lambda outcome, n: written.append(n))
    log.start()
    frame = pd.DataFrame(store.x, columns=store.columns)
    for number in range(300):
        log.record(_request(digits, frame.iloc[number * 5 : number * 5 + 5], number))
    log.stop()
    rows = read_predictions(database)
    assert len(rows) == 1500 == log.written == sum(written)
    assert len(written) <= 10, "rows go in batches, not one by one"
    assert [r["output"] for r in rows] == store.expected_v1[:1500]
    assert rows[7]["checker_scores"] == {"mean_shift": 0.25}
    assert read_predictions(database, model_name="other") == []
    assert len(read_predictions(database, limit=10)) == 10


def test_a_full_log_queue_drops_and_counts(digits, store: Store, tmp_path) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", capacity=4)
    log.open()  # no writer thread: nothing drains the queue
    values = np.asarray(store.x[:2])
    for number in range(3):
        log.record(_request(digits, pd.DataFrame(values, columns=store.columns), number))
    assert (log.pending, log.dropped) == (4, 2)


def test_rows_older_than_the_retention_are_deleted_and_counted(digits, store: Store, database: str) -> None:
    frame = pd.DataFrame(store.x[:4], columns=store.columns)
    old = _request(digits, frame, 1)
    old.created_at -= 3 * 86400  # logged three days ago
    earlier = PredictionLog(database)
    earlier.start()
    earlier.record(old)
    earlier.stop()
    assert len(read_predictions(database)) == 4

    outcomes: dict[str, int] = {}
    log = PredictionLog(
        database,
        keep_s=86400,
        on_rows=lambda outcome, n: outcomes.update({outcome: outcomes.get(outcome, 0) + n}),
    )
    log.start()  # a restarted server cleans up at once
    log.record(_request(digits, frame, 2))
    wait_for(lambda: log.pruned == 4 and log.written == 4, timeout=10)
    log.stop()
    rows = read_predictions(database)
    assert [row["request_id"] for row in rows] == [f"{2:032x}"] * 4, "only the recent request is left"
    assert outcomes == {"pruned": 4, "written": 4}


def _open_together(database: str, count: int = 8) -> list[str]:
    """Open ``database`` from ``count`` threads released at the same instant; the errors they met."""
    start, failures = threading.Barrier(count), []

    def open_it() -> None:
        start.wait()
        try:
            open_database(database).dispose()
        except Exception as error:  # what the test looks for
            failures.append(repr(error))

    workers = [threading.Thread(target=open_it) for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return failures


def test_workers_opening_a_new_log_at_once_all_get_the_table(database: str) -> None:
    """Server workers and replicas open one new log together; none may fail on the other's CREATE TABLE."""
    for _round in range(5):
        if database.startswith("sqlite"):
            Path(database.removeprefix("sqlite:///")).unlink(missing_ok=True)
        else:
            _empty(database)
        assert _open_together(database) == []
        assert read_predictions(database) == []
