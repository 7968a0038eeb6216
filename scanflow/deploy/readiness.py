"""Waiting for a deployed service to answer ``GET /ready``, and saying why when it never does.

A deployment counts as done only once every published endpoint answers 200 on
``/ready`` (the model is loaded). A service that reports it cannot load its
model, or whose process or containers die, fails at once with the server's own
reason and the end of its log, rather than after the timeout.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from scanflow.deploy.errors import DeployCancelled, DeployError

_POLL = 0.3


def wait_ready(
    urls: Callable[[], list[str]],
    timeout: float,
    problem: Callable[[], str | None],
    logs: Callable[[], str],
    what: str,
    cancelled: threading.Event | None = None,
    lacking: Callable[[], str] | None = None,
) -> None:
    """Return once every URL ``urls()`` gives answers ``/ready``; raise `DeployError` otherwise.

    ``problem()`` says why the service can no longer become ready (it died, the
    engine rejected it), or None while it may still come up. ``lacking()`` says
    what it was still waiting for when ``urls()`` gave none, for the timeout's message.
    """
    deadline = time.monotonic() + timeout
    pending: list[str] = []
    while time.monotonic() < deadline:
        if cancelled is not None and cancelled.is_set():
            raise DeployCancelled(f"{what}: stopped before it was ready")
        current = urls()  # a swarm's task endpoints appear as its tasks start
        pending = [url for url in current if not _ready(url, what, logs)]
        if current and not pending:
            return
        reason = problem()
        if reason is not None:
            raise DeployError(f"{what} {reason}; its log ends with:\n{logs()}")
        time.sleep(_POLL)
    waiting = ", ".join(pending) or (lacking() if lacking else "") or "its published port"
    raise DeployError(
        f"{what} did not answer /ready within {timeout:g} s (waiting for {waiting}); its log ends with:\n"
        f"{logs()}"
    )


def _ready(url: str, what: str, logs: Callable[[], str]) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ready", timeout=3) as response:  # noqa: S310 - our service
            return response.status == 200
    except urllib.error.HTTPError as error:
        if error.code == 503:
            body = _json(error.read())
            if body.get("status") == "failed":
                message = f"{what} cannot serve: {body.get('error')}\nIts log ends with:\n{logs()}"
                raise DeployError(message) from None
        return False
    except (urllib.error.URLError, OSError):
        return False


def served_version(url: str) -> str:
    """The version the service at ``url`` serves now (``/ready`` needs no token), "" if unknown."""
    try:
        with urllib.request.urlopen(f"{url}/ready", timeout=2) as response:  # noqa: S310 - our service
            models = _json(response.read()).get("models") or {}
    except (urllib.error.URLError, OSError):
        return ""
    labels = [str(label) for label in models.values()]
    return labels[0].rpartition("/")[2] if len(labels) == 1 else ", ".join(labels)


def _json(data: bytes) -> dict:
    try:
        found = json.loads(data)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
