"""Deploying, listing and removing deployments, whatever their backend (the CLI and workflows call these).

``deploy`` checks everything it can before it builds anything (who may reach
the service, ports, replicas, the engine, the model), then builds the serving
image (docker, swarm), starts or updates the service and returns once it
answers ``/ready``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from scanflow.deploy.errors import DeployError
from scanflow.deploy.ports import LOOPBACK
from scanflow.deploy.status import DeploymentStatus
from scanflow.home import Home
from scanflow.run.backend import BackendError, Progress
from scanflow.serve.config import TOKEN_VARIABLE
from scanflow.spec.deployment import Deployment

BACKENDS = ("local", "docker", "swarm")


def deploy(
    deployment: Deployment,
    *,
    token: str | None = None,
    tracking_uri: str | None = None,
    home: str | Path | None = None,
    base_dir: str | Path | None = None,
    workflow: str | None = None,
    default_backend: str = "local",
    progress: Progress = print,
    cancelled: threading.Event | None = None,
) -> DeploymentStatus:
    """Deploy (or update) ``deployment`` and wait until it answers; return where it answers.

    ``token`` defaults to ``SCANFLOW_SERVE_TOKEN``; the model is read from
    ``deployment.tracking_uri``, else ``tracking_uri``, else the project's store.
    Relative checker paths start at ``base_dir`` (the working directory).
    """
    backend = deployment.backend or default_backend
    if backend not in BACKENDS:
        raise DeployError(f"unknown deployment backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
    token = token or os.environ.get(TOKEN_VARIABLE) or None
    project = Home.resolve(home)
    registry = project.tracking_uri(deployment.tracking_uri or tracking_uri)
    _check_exposure(deployment, backend, token)
    name = deployment.name
    if backend == "local":
        from scanflow.deploy.local import LocalDeployer
        from scanflow.deploy.model_source import resolve_model

        local = LocalDeployer(project, progress)
        local.check(name, deployment)
        resolve_model(deployment.model, registry)  # a wrong URI fails here, not in the server's log
        return local.deploy(name, deployment, registry, token, workflow, cancelled)
    if deployment.follow:
        _check_reachable(registry)
    from scanflow.deploy.container import serving_container
    from scanflow.deploy.docker import DockerDeployer
    from scanflow.deploy.model_source import fetch_model
    from scanflow.deploy.serving_image import build_serving_image
    from scanflow.deploy.swarm import SwarmDeployer
    from scanflow.run.docker_engine import connect
    from scanflow.run.images import ImageBuilder

    client = connect()
    deployer = DockerDeployer(client, progress) if backend == "docker" else SwarmDeployer(client, progress)
    deployer.check(name, deployment)
    with tempfile.TemporaryDirectory(prefix="scanflow-deploy-") as folder:
        progress(f"looking up {deployment.model} in {registry}")
        model = fetch_model(deployment.model, registry, Path(folder))
        progress(f"building the serving image of {model.label}")
        builder = ImageBuilder(client, progress)
        image = build_serving_image(builder, deployment, model, Path(base_dir or Path.cwd()), name)
    placement = deployer.placement() if isinstance(deployer, SwarmDeployer) else ()
    container = serving_container(name, deployment, image, model, token, registry, workflow, placement)
    return deployer.deploy(name, deployment, container, cancelled)


def _check_exposure(deployment: Deployment, backend: str, token: str | None) -> None:
    """A service reachable beyond this machine needs a token, unless the user says otherwise."""
    if deployment.replicas > 1 and backend != "swarm":
        raise DeployError(
            f"a {backend} deployment is one server: use --workers for more processes on one port,"
            " or --backend swarm for replicas"
        )
    if token or deployment.insecure:
        return
    if backend == "swarm":
        raise DeployError(
            "a Swarm service publishes its port on every interface of every node (Swarm cannot bind to"
            f" 127.0.0.1): give a token (--token or {TOKEN_VARIABLE}) that clients must send, or"
            " --insecure to expose it without one"
        )
    if deployment.host not in LOOPBACK:
        raise DeployError(
            f"publishing on {deployment.host} exposes the service beyond this machine: give a token"
            f" (--token or {TOKEN_VARIABLE}), or --insecure to expose it without one"
        )


def _check_reachable(registry: str) -> None:
    from scanflow.run.workflow_tracker import reachable_from_containers

    if not reachable_from_containers(registry):
        raise DeployError(
            f"follow reads the model from the tracking server while serving, but containers cannot reach"
            f" {registry} (a local store, or a server on this machine's loopback). Give --tracking-uri"
            " of a server the containers reach (e.g. http://HOST-ADDRESS:5000), or leave out follow to"
            " put the model's files in the image"
        )


# ----------------------------------------------------------------- listing
def deployment_statuses(
    name: str | None = None, backend: str | None = None, home: str | Path | None = None
) -> tuple[list[DeploymentStatus], list[str]]:
    """Every deployment (or ``name``) on ``backend`` (or all), and notes on backends not looked at."""
    found: list[DeploymentStatus] = []
    notes: list[str] = []
    for deployer in _deployers(backend, home, notes):
        found += deployer.statuses(name)
    return sorted(found, key=lambda s: (s.name, s.backend)), notes


def remove_deployment(name: str, backend: str | None = None, home: str | Path | None = None) -> list[str]:
    """Stop and remove deployment ``name``; the backends it was on. `LookupError` when none."""
    removed = [d.backend for d in _deployers(backend, home, []) if d.remove(name)]
    if not removed:
        where = f" on {backend}" if backend else ""
        raise LookupError(f"no deployment named '{name}'{where}; `scanflow deploy status` lists them")
    return removed


def deployment_logs(
    name: str,
    write: Callable[[str], None],
    backend: str | None = None,
    home: str | Path | None = None,
    tail: int | None = None,
    follow: bool = False,
) -> str:
    """Write the output of deployment ``name``'s server(s); the backend it is on. `LookupError` when none."""
    for deployer in _deployers(backend, home, []):
        if deployer.logs(name, write, tail, follow):
            return deployer.backend
    where = f" on {backend}" if backend else ""
    raise LookupError(f"no deployment named '{name}'{where}; `scanflow deploy status` lists them")


def _deployers(backend: str | None, home: str | Path | None, notes: list[str]) -> list:  # noqa: ANN401
    if backend is not None and backend not in BACKENDS:
        raise DeployError(f"unknown deployment backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
    from scanflow.deploy.local import LocalDeployer

    deployers: list = []
    if backend in (None, "local"):
        deployers.append(LocalDeployer(Home.resolve(home), print))
    if backend == "local":
        return deployers
    from scanflow.run.docker_engine import connect

    try:
        client = connect(timeout=10)
    except BackendError as error:
        if backend is not None:
            raise
        notes.append(f"docker and swarm deployments not listed: {error}")
        return deployers
    from scanflow.deploy.docker import DockerDeployer
    from scanflow.deploy.swarm import SwarmDeployer

    if backend in (None, "docker"):
        deployers.append(DockerDeployer(client, print))
    if backend in (None, "swarm"):
        try:
            deployers.append(SwarmDeployer(client, print))
        except BackendError:  # not a swarm manager: nothing of ours can be there
            if backend is not None:
                raise
    return deployers
