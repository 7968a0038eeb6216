"""Deployments that cannot happen say why and what to do, before anything is built or started."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from scanflow.cli import app

from .helpers import DigitsRegistry, flat


def test_an_unreachable_engine_is_named_with_the_fix(digits_registry: DigitsRegistry, monkeypatch) -> None:
    pytest.importorskip("docker")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")  # nothing listens there
    for backend in ("docker", "swarm"):
        result = CliRunner().invoke(
            app,
            ["deploy", "models:/digits/1", "--backend", backend, "--token", "t"],
            env={"SCANFLOW_TRACKING_URI": digits_registry.tracking_uri},
        )
        assert result.exit_code == 1
        assert "cannot reach the Docker engine at tcp://127.0.0.1:9" in flat(result.output)


class _EngineOutsideASwarm:
    """Failure injection: an engine that answers but was never made a swarm manager."""

    def info(self) -> dict:
        return {"Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False}}


def test_a_swarm_deployment_on_an_engine_outside_a_swarm_says_to_init_one() -> None:
    from scanflow.deploy.swarm import SwarmDeployer
    from scanflow.run.backend import BackendError

    with pytest.raises(BackendError, match=r"not a Swarm manager: run `docker swarm init`"):
        SwarmDeployer(_EngineOutsideASwarm(), print)  # type: ignore[arg-type]


def test_a_swarm_deployment_needs_a_token_or_an_explicit_insecure(digits_registry: DigitsRegistry) -> None:
    result = CliRunner().invoke(
        app,
        ["deploy", "models:/digits/1", "--backend", "swarm", "--tracking-uri", digits_registry.tracking_uri],
    )
    assert result.exit_code == 1
    text = flat(result.output)
    assert (
        "Swarm cannot bind to 127.0.0.1" in text and "SCANFLOW_SERVE_TOKEN" in text and "--insecure" in text
    )


def test_following_needs_a_tracking_server_the_containers_reach(digits_registry: DigitsRegistry) -> None:
    result = CliRunner().invoke(
        app,
        ["deploy", "models:/digits@champion", "--backend", "docker", "--follow"],
        env={"SCANFLOW_TRACKING_URI": digits_registry.tracking_uri},
    )
    assert result.exit_code == 1
    assert "containers cannot reach" in flat(result.output)
