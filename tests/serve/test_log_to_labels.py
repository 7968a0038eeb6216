"""What a server logs is what the interact module queues for labelling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from scanflow.interact.selection import select_batch
from scanflow.interact.sources.prediction_log import PREDICTION_LOG, PredictionLogSource
from scanflow.interact.store import LabelStore
from scanflow.interact.strategies import make_strategy
from scanflow.serve.prediction_log import TABLE_NAME, PredictionLog, holds, predictions, read_predictions

from .serving import Server, Store, split_body, wait_for


def test_the_label_queue_reads_the_servers_own_table() -> None:
    assert PREDICTION_LOG.table == TABLE_NAME and PREDICTION_LOG.holds == holds.name
    for column in ("id", "created_at", "model_name", "model_version", "input", "output", "probabilities"):
        assert getattr(PREDICTION_LOG, column) in predictions.c, f"the server's log has no '{column}'"


def test_production_requests_become_samples_to_label(start_server, store: Store, tmp_path) -> None:
    database = f"sqlite:///{tmp_path / 'predictions.db'}"
    server: Server = start_server("models:/digits@champion", "--log-db", database, "--report-every", "0")
    with server.client() as client:
        for start in range(0, 60, 20):
            assert client.post("/invocations", json=split_body(store, start, 20)).status_code == 200
    logged = wait_for(
        lambda: len(rows := read_predictions(database)) == 60 and rows, message="60 logged rows"
    )
    assert server.stop() == 0

    samples = PredictionLogSource(database, model_name="digits").load()
    assert len(samples.ids) == 60 and samples.features.shape == (60, 64)
    by_id = {row["id"]: row for row in logged}
    for sample_id, features, prediction in zip(
        samples.ids, samples.features, samples.predictions, strict=True
    ):
        row = by_id[sample_id]
        np.testing.assert_allclose(features, [row["input"][c] for c in store.columns])
        assert prediction == row["output"]
    assert samples.probabilities is not None and samples.probabilities.shape == (60, 10)

    source = PredictionLogSource(database, model_name="digits")
    with LabelStore(f"sqlite:///{tmp_path / 'labels.db'}") as labels:
        labels.create_queue("production", source=source.spec(), classes=samples.classes)
        strategy = make_strategy("margin")
        batch = select_batch(labels, "production", samples, None, strategy, 5, seed=0, source=source)
        queued = labels.items("production")
    assert len(queued) == 5 == len(batch.queued)
    assert {q.sample_ref for q in queued} <= set(samples.ids), "queued samples point at logged rows"
    assert all(q.reason and q.prediction is not None for q in queued), "the labeller sees why and what"

    # Retention deletes old rows, but never one a person is asked to label.
    log = PredictionLog(database, keep_s=1)
    log.open()
    assert log.prune(datetime.now(UTC) + timedelta(days=1)) == 55
    log.stop()
    left = PredictionLogSource(database, model_name="digits").load()
    assert set(left.ids) == {q.sample_ref for q in queued}, "the queued samples are still there to show"
