"""Fixtures for tests that need a real Docker engine (and a Swarm manager).

They skip on a machine without an engine, and fail instead when
SCANFLOW_REQUIRE_DOCKER=1 (CI sets it), so CI always really runs them.
Wheels and images are shared by the whole session: a build happens once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from container_helpers import write_pipeline

REQUIRED = os.environ.get("SCANFLOW_REQUIRE_DOCKER") == "1"
SESSION_WHEELS = Path(os.environ.get("SCANFLOW_TEST_WHEEL_CACHE", "/tmp/scanflow-test-wheels"))


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason}, but SCANFLOW_REQUIRE_DOCKER=1 requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client():
    """A client of a running Docker engine with the default base image, or a skip."""
    try:
        import docker
    except ImportError:
        _unavailable("the Docker SDK is not installed (pip install 'scanflow[docker]')")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as error:
        _unavailable(f"no Docker engine answers ({type(error).__name__})")
    from scanflow.run.images import default_base_image

    base = default_base_image()
    try:
        client.images.get(base)
    except docker.errors.ImageNotFound:
        _unavailable(f"the base image {base} is not on the engine (scripts/make-base-image {base})")
    return client


@pytest.fixture(scope="session")
def swarm_manager(docker_client):
    """The engine, checked to be a Swarm manager."""
    swarm = docker_client.info().get("Swarm", {})
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        _unavailable("the Docker engine is not a Swarm manager (docker swarm init)")
    return docker_client


@pytest.fixture(autouse=True)
def shared_wheels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCANFLOW_WHEEL_CACHE", str(SESSION_WHEELS))


@pytest.fixture
def swarm_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine has no IPVS: services find each other by DNS and publish on the node."""
    monkeypatch.setenv("SCANFLOW_SWARM_ENDPOINT_MODE", "dnsrr")
    monkeypatch.setenv("SCANFLOW_SWARM_PUBLISH_MODE", "host")


@pytest.fixture
def pipeline(project: Path, docker_client):
    """A small workflow like a user's: files through the data dir, a function, MLflow logging.

    Its tracker store starts empty and is deleted afterwards, so tests see only their own runs.
    """
    from scanflow.run.workflow_tracker import remove_tracker_stores

    remove_tracker_stores(docker_client, "pipe")
    yield write_pipeline(project)
    remove_tracker_stores(docker_client, "pipe")


@pytest.fixture(scope="session")
def guarded_server(docker_client, tmp_path_factory):
    """One shared server off loopback, behind passwords and HTTPS, with the digits models registered."""
    from unittest import mock

    from deploy.helpers import registry_at
    from tracker_server import guarded_tracker, host_address

    with guarded_tracker(host_address(docker_client), tmp_path_factory.mktemp("guarded")) as server:
        with mock.patch.dict(os.environ, server.client_env()):
            registry = registry_at(server.uri, "digits-guarded")
        yield server, registry


@pytest.fixture
def as_guarded_admin(guarded_server, monkeypatch: pytest.MonkeyPatch):
    """The shared server and its registry, logged in as its admin, with the alias on version 1."""
    from mlflow import MlflowClient

    server, registry = guarded_server
    for name, value in server.client_env().items():
        monkeypatch.setenv(name, value)
    MlflowClient(server.uri, server.uri).set_registered_model_alias("digits", "champion", "1")
    return server, registry
