"""A background thread that runs one job every few seconds until stopped.

The alias follower and the monitoring reporter are both such jobs; the thread
never dies of the job's errors (the job reports them itself).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("scanflow.serve")


class Periodic:
    def __init__(self, job: Callable[[], object], interval_s: float, name: str):
        self.job = job
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        if self.interval_s > 0:
            self._thread.start()

    def request_stop(self) -> None:
        """Start no other job; the one in progress, if any, goes on. Returns at once."""
        self._stop.set()

    def stop(self, timeout: float = 30) -> bool:
        """Stop after the job in progress, waiting ``timeout`` seconds at most; False if it still runs."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.job()
            except Exception:
                log.exception("%s failed", self._thread.name)
