"""Waiting for a deployment: a timeout says what the service still lacked."""

from __future__ import annotations

import pytest

from scanflow.deploy.errors import DeployError
from scanflow.deploy.readiness import wait_ready


def test_a_timeout_names_what_the_service_was_still_waiting_for() -> None:
    with pytest.raises(DeployError) as raised:
        wait_ready(
            urls=lambda: [],
            timeout=0.5,
            problem=lambda: None,
            logs=lambda: "model loading...",
            what="service 'digits'",
            lacking=lambda: "2 running tasks (new tasks: running, starting)",
        )
    message = str(raised.value)
    assert "did not answer /ready within 0.5 s" in message
    assert "waiting for 2 running tasks (new tasks: running, starting)" in message
    assert message.endswith("model loading...")


def test_a_published_port_that_never_answers_is_named() -> None:
    with pytest.raises(DeployError, match=r"waiting for http://127\.0\.0\.1:9\)"):
        wait_ready(lambda: ["http://127.0.0.1:9"], 0.5, lambda: None, lambda: "", "deployment 'd'")
