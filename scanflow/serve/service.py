"""The prediction service without HTTP: models, routing, live checks, logging.

`app` turns requests into calls of `PredictionService.predict` and
`PredictionService.record`; everything else here runs in the background and
starts and stops with the service.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scanflow.serve.checkers import load_checkers
from scanflow.serve.config import ServeConfig
from scanflow.serve.direct import import_model_libraries_early
from scanflow.serve.errors import ModelFailed, NotReady, UnknownModel
from scanflow.serve.fetch import Fetching, ReportedByParent, fetch_remote
from scanflow.serve.follow import AliasFollower
from scanflow.serve.holder import ModelSet, ModelSlot
from scanflow.serve.live_check import CheckerState, LiveChecking
from scanflow.serve.metrics import ServeMetrics
from scanflow.serve.model import LoadedModel
from scanflow.serve.monitoring import MonitoringReporter
from scanflow.serve.payload import Payload
from scanflow.serve.prediction_log import LoggedRequest, PredictionLog
from scanflow.serve.registry import ModelSource, Registry
from scanflow.serve.rules import Router, RuleFile
from scanflow.serve.signature import Prepared

log = logging.getLogger("scanflow.serve")


@dataclass
class Answer:
    """A prediction and how it was made."""

    slot: ModelSlot
    route: str
    model: LoadedModel
    prepared: Prepared
    outputs: Any


class PredictionService:
    def __init__(
        self,
        config: ServeConfig,
        on_fatal: Callable[[str], None] | None = None,
        fetch: Fetching | None = None,
    ):
        self.config = config
        self.on_fatal = on_fatal  # reports a model that cannot load (the CLI prints it); else logged
        self.error: str | None = None
        self.registry = Registry(config.tracking_uri or "")
        sources, default, rules = _model_sources(config)
        self.models = ModelSet(sources, default)
        self.router = Router(self.models, rules)
        self.metrics = ServeMetrics()
        self.checking = LiveChecking(
            load_checkers(config.checkers, window=config.check_window, ert=config.check_ert),
            window=config.check_window,
            capacity=config.check_queue,
            on_result=self._checked,
            on_error=lambda state: self.metrics.checker_errors.labels(state.name).inc(),
            on_drop=self.metrics.check_dropped.inc,
        )
        self.prediction_log = (
            PredictionLog(
                config.log_db or "",
                probabilities=config.log_probabilities,
                keep_s=config.log_keep_s,
                on_rows=lambda outcome, rows: self.metrics.log_rows.labels(outcome).inc(rows),
            )
            if config.log_predictions
            else None
        )
        if self.prediction_log is not None:
            self.prediction_log.open()  # a wrong --log-db fails now, before the server binds
        self.follower = AliasFollower(self.models, self.registry, config.follow_s, self._served)
        self.reporter = MonitoringReporter(self.registry, self.models, self.checking, config.report_s)
        self._loader = threading.Thread(target=self._load_quietly, name="scanflow-model-loader", daemon=True)
        # Started now, so the registry is read on the other core while this process imports.
        if fetch is None:
            fetch = fetch_remote(self.registry.tracking_uri, sources.values())
        self._fetch = fetch

    # ------------------------------------------------------------ lifecycle
    def start(self, wait: bool = False) -> None:
        """Open the log, start checking, and load the models: in the background (see `ready`) or now."""
        if self.prediction_log is not None:
            self.prediction_log.start()
        self.checking.start()
        if wait:
            self._load_quietly()  # a failure leaves the service up, answering 503 with the reason
        else:
            self._loader.start()

    def _load(self) -> None:
        try:
            import_model_libraries_early()
            fetched = self._fetch.result() if self._fetch is not None else None
            self.models.load(self.registry, self._served, fetched)
        except Exception as error:
            self.error = str(error)
            if self.on_fatal is not None:
                self.on_fatal(self.error)
            elif not isinstance(error, ReportedByParent):
                log.error("cannot serve: %s", self.error)
            raise
        self.follower.start()
        self.reporter.start()

    def _load_quietly(self) -> None:
        with contextlib.suppress(Exception):  # reported by _load and GET /ready
            self._load()

    @property
    def ready(self) -> bool:
        return self.models.ready

    def stop(self) -> None:
        """Stop following and checking; write what the log and the tracker still hold.

        The prediction log goes first, and calls to the registry or tracker are
        waited for only briefly: with either away, MLflow retries a call for
        minutes, and an engine kills a server that outlasts its stop grace.
        """
        if self._fetch is not None:
            self._fetch.close()
        self.follower.request_stop()
        self.reporter.request_stop()
        if self.prediction_log is not None:
            self.prediction_log.stop()
        self.checking.stop()
        self.follower.stop()
        self.reporter.stop()

    def _served(self, slot: ModelSlot, previous: LoadedModel | None) -> None:
        assert slot.current is not None
        self.metrics.model_served(slot.key, slot.current, previous)

    def _checked(self, state: CheckerState) -> None:
        last = state.last or {}
        if last.get("score") is not None:
            self.metrics.drift_score.labels(state.name).set(last["score"])
        self.metrics.drift_detected.labels(state.name).set(1 if last.get("verdict") == "drift" else 0)
        self.metrics.check_windows.labels(state.name).inc()

    # ------------------------------------------------------------ requests
    def choose(
        self, slot_key: str | None, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> tuple[ModelSlot, str, LoadedModel]:
        """The slot the URL names or the rules choose, why, and the model it serves now."""
        if slot_key is None:
            slot, route = self.router.choose(headers, query)
        else:
            found = self.models.get(slot_key)
            if found is None:
                raise UnknownModel(
                    f"no model '{slot_key}' here; this service serves {', '.join(self.models.slots)}"
                )
            slot, route = found, "url"
        model = slot.current
        if model is None:
            raise NotReady(self.error or "the model is still loading; retry when GET /ready answers 200")
        return slot, route, model

    def predict(self, payload: Payload, slot: ModelSlot, route: str, model: LoadedModel) -> Answer:
        """Check a payload against the model's signature and predict it."""
        prepared = model.spec.prepare(payload)
        try:
            outputs = model.predict(prepared.values, payload.params)
        except Exception as error:
            raise ModelFailed(
                f"model {model.label} failed on this input: {type(error).__name__}: {error}"
            ) from None
        return Answer(slot, route, model, prepared, outputs)

    def record(self, answer: Answer, request_id: str, arrived: float, seconds: float) -> None:
        """Account for an answered request: metrics, rules' latency, checks, log."""
        model = answer.model
        answer.slot.latency.record(seconds * 1000)
        metrics = self.metrics
        metrics.requests.labels(model.name, model.version, "200").inc()
        metrics.latency.labels(model.name).observe(seconds)
        metrics.rows.labels(model.name).inc(answer.prepared.rows)
        if self.checking.enabled:
            self.checking.submit(answer.prepared.values, answer.prepared.names)
        if self.prediction_log is not None:
            self.prediction_log.record(
                LoggedRequest(
                    request_id=request_id,
                    created_at=arrived,
                    model=model,
                    slot=answer.slot.key,
                    route=answer.route,
                    values=answer.prepared.values,
                    names=answer.prepared.names,
                    outputs=answer.outputs,
                    latency_ms=seconds * 1000,
                    checker_scores=self.checking.scores() if self.checking.enabled else None,
                )
            )

    def record_error(self, kind: str, status: int) -> None:
        """Account for a request that got an error (``kind``: the error class, e.g. ``BadInput``)."""
        self.metrics.errors.labels(kind).inc()
        self.metrics.requests.labels("", "", str(status)).inc()

    def describe(self) -> dict[str, Any]:
        return {
            "default": self.models.default,
            "models": [
                {
                    "slot": key,
                    **(
                        slot.current.describe() if slot.current else {"uri": slot.source.uri, "loading": True}
                    ),
                }
                for key, slot in self.models.slots.items()
            ],
        }


def _model_sources(config: ServeConfig) -> tuple[dict[str, ModelSource], str, list[Any]]:
    if config.rules is not None:
        rule_file = RuleFile.read(config.rules)
        sources = {key: ModelSource.parse(uri) for key, uri in rule_file.models.items()}
        return sources, rule_file.default, rule_file.rules
    assert config.model is not None
    source = ModelSource.parse(config.model)
    return {source.default_name: source}, source.default_name, []
