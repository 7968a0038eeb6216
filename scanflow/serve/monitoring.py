"""The "monitoring" run: live check results in the tracker, next to the model's training runs.

Every ``interval_s`` seconds a background thread logs the latest score and
verdict of each checker (``drift.<checker>.score``, ``drift.<checker>.detected``)
and the traffic since the last report to one MLflow run named ``monitoring``
in the experiment of the run that logged the default model. The run ends when
the service stops.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from scanflow.serve.holder import ModelSet
from scanflow.serve.live_check import LiveChecking
from scanflow.serve.periodic import Periodic
from scanflow.serve.registry import Registry
from scanflow.track.store import TAG_KIND, ensure_experiment

log = logging.getLogger("scanflow.serve")
FALLBACK_EXPERIMENT = "scanflow-monitoring"


class MonitoringReporter:
    def __init__(self, registry: Registry, models: ModelSet, checking: LiveChecking, interval_s: float):
        self.registry = registry
        self.models = models
        self.checking = checking
        self.run_id: str | None = None
        self.reports = 0
        self._sent: dict[str, int] = {}
        self._periodic = Periodic(lambda: self._safely(self.report), interval_s, "scanflow-monitoring")

    def start(self) -> None:
        if self.checking.enabled:
            self._periodic.start()

    def request_stop(self) -> None:
        self._periodic.request_stop()

    def stop(self, timeout: float = 5.0) -> None:
        """Log the last results and end the monitoring run, unless a report still hangs on the tracker."""
        if not self._periodic.stop(timeout):
            log.warning("monitoring: the tracker does not answer; the last results are not logged")
            return
        if self.run_id is not None:
            self._safely(self.report)
            self._safely(lambda: self.registry.client.set_terminated(self.run_id, "FINISHED"))

    def _safely(self, job: Any) -> None:
        try:
            job()
        except Exception as error:  # the tracker being away must not stop the service
            log.warning("monitoring: cannot log to the tracker: %s", error)

    def report(self) -> bool:
        """Log the windows judged since the last report; False when nothing new was judged."""
        from mlflow.entities import Metric

        fresh = [s for s in self.checking.states.values() if s.windows > self._sent.get(s.name, 0) and s.last]
        if not fresh:
            return False
        run_id = self._run()
        now = int(time.time() * 1000)
        metrics = []
        for state in fresh:
            score = state.last.get("score") if state.last else None
            if score is not None:
                metrics.append(Metric(f"drift.{state.name}.score", float(score), now, state.windows))
            detected = 1.0 if state.last and state.last.get("verdict") == "drift" else 0.0
            metrics.append(Metric(f"drift.{state.name}.detected", detected, now, state.windows))
            self._sent[state.name] = state.windows
        metrics.append(Metric("check.dropped_rows", float(self.checking.dropped), now, self.reports))
        self.registry.client.log_batch(run_id, metrics=metrics)
        self.reports += 1
        return True

    def _run(self) -> str:
        if self.run_id is not None:
            return self.run_id
        client = self.registry.client
        model = self.models.slots[self.models.default].current
        experiment = self.registry.experiment_of(model.run_id if model else None)
        if experiment is None:
            experiment = ensure_experiment(client, FALLBACK_EXPERIMENT, None)
        tags = {
            TAG_KIND: "monitoring",
            "scanflow.model": model.name if model else "",
            "scanflow.model_version": model.version if model else "",
            "scanflow.server": f"{socket.gethostname()}:{os.getpid()}",
            "scanflow.checkers": ",".join(self.checking.states),
        }
        self.run_id = client.create_run(experiment, run_name="monitoring", tags=tags).info.run_id
        return self.run_id
