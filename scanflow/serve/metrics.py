"""The service's Prometheus metrics (``GET /metrics``).

With ``--workers N`` each worker is a process, so the metrics go through
prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by the
server before the workers start) and ``/metrics`` sums what every worker saw.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_VARIABLE))
        r = self.registry
        self.requests = Counter(
            "scanflow_requests", "Prediction requests answered.", ["model", "version", "status"], registry=r
        )
        self.latency = Histogram(
            "scanflow_request_duration_seconds",
            "Time to answer a prediction request, from the first body byte to the response.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rows = Counter("scanflow_predicted_rows", "Rows predicted.", ["model"], registry=r)
        self.errors = Counter(
            "scanflow_request_errors", "Requests that got an error, by kind.", ["kind"], registry=r
        )
        self.model_info = Gauge(
            "scanflow_model_info",
            "1 for the model version each slot serves.",
            ["slot", "model", "version"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.swaps = Counter(
            "scanflow_model_swaps", "Hot swaps to a new model version.", ["slot"], registry=r
        )
        self.drift_score = Gauge(
            "scanflow_drift_score",
            "Score of the latest window each live checker judged.",
            ["checker"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.drift_detected = Gauge(
            "scanflow_drift_detected",
            "1 when the latest window of a checker was judged drifted.",
            ["checker"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.check_windows = Counter("scanflow_check_windows", "Windows judged.", ["checker"], registry=r)
        self.checker_errors = Counter(
            "scanflow_checker_errors",
            "Windows a checker failed on (predictions unaffected).",
            ["checker"],
            registry=r,
        )
        self.check_dropped = Counter(
            "scanflow_check_dropped_rows", "Rows not checked because the check queue was full.", registry=r
        )
        self.log_rows = Counter(
            "scanflow_prediction_log_rows", "Prediction log rows, by outcome.", ["outcome"], registry=r
        )

    def model_served(self, slot: str, model: Any, previous: Any) -> None:
        if previous is not None:
            self.model_info.labels(slot, previous.name, previous.version).set(0)
            self.swaps.labels(slot).inc()
        self.model_info.labels(slot, model.name, model.version).set(1)

    def exposition(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        _multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)
