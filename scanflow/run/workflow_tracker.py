"""The workflow's tracker: an MLflow server in a container, its store and artifacts on a volume.

Steps reach it on the run's network as ``http://tracker-<workflow>:5000``; the
host-side recorder through a port published on 127.0.0.1. Its store volume is
per workflow, so every run of the workflow lands in one place and outlives the
run (``scanflow wipe`` removes it).
"""

from __future__ import annotations

import contextlib
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from scanflow.run.backend import BackendError
from scanflow.run.docker_engine import LABEL_KIND, LABEL_WORKFLOW, resource_name, tracker_alias
from scanflow.run.images import ImageBuilder, default_base_image

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

TRACKER_PORT = 5000
STORE_DIR = "/mlflow"
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


@dataclass(frozen=True)
class TrackerAddress:
    """The same tracker seen from the host and from the steps' network."""

    host_uri: str
    network_uri: str


def tracker_requirements() -> tuple[str, ...]:
    """The MLflow server, at the version of the host's client (their REST APIs then match)."""
    for package in ("mlflow", "mlflow-skinny"):
        try:
            return (f"mlflow=={metadata.version(package)}",)
        except metadata.PackageNotFoundError:
            continue
    return ("mlflow",)


def tracker_image(builder: ImageBuilder, workflow: str) -> str:
    return builder.deps_image(default_base_image(), tracker_requirements(), workflow, owner="the tracker")


def store_volume(workflow: str) -> str:
    return resource_name(workflow, "tracker")


def network_uri(workflow: str) -> str:
    return f"http://{tracker_alias(workflow)}:{TRACKER_PORT}"


def server_command() -> list[str]:
    return [
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{STORE_DIR}/mlflow.db",
        "--artifacts-destination",
        f"{STORE_DIR}/artifacts",
        "--host",
        "0.0.0.0",
        "--port",
        str(TRACKER_PORT),
        "--workers",
        "1",
    ]


def server_environment(workflow: str) -> dict[str, str]:
    """MLflow refuses unknown Host headers; allow the tracker's names and loopback."""
    alias = tracker_alias(workflow)
    hosts = [alias, f"{alias}:*", f"{alias}.*", "localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*"]
    return {
        "MLFLOW_SERVER_ALLOWED_HOSTS": ",".join(hosts),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no GenAI job runner: it doubles the start time
        "PYTHONUNBUFFERED": "1",
    }


def reachable_from_containers(uri: str | None) -> bool:
    """Whether steps in containers can use ``uri`` as it is (a server not on the host's loopback)."""
    if not uri or not uri.startswith(("http://", "https://")):
        return False
    return (urlparse(uri).hostname or "") not in _LOOPBACK


def start_tracker_container(
    client: DockerClient,
    image: str,
    workflow: str,
    name: str,
    container_labels: dict[str, str],
    network: str | None = None,
) -> tuple[Container, str]:
    """Run the tracker on the workflow's store, published on 127.0.0.1; return it and its host URI.

    On ``network`` it answers to ``tracker-<workflow>``. Returns once it is healthy.
    """
    volume = store_volume(workflow)
    with contextlib.suppress(Exception):  # it exists after the first run
        client.volumes.create(volume, labels={LABEL_WORKFLOW: workflow, LABEL_KIND: "tracker-store"})
    options: dict[str, Any] = {}
    if network is not None:
        alias = client.api.create_endpoint_config(aliases=[tracker_alias(workflow)])
        options = {"network": network, "networking_config": {network: alias}}
    container = client.containers.run(
        image,
        server_command(),
        name=name,
        detach=True,
        labels=container_labels,
        environment=server_environment(workflow),
        volumes={volume: {"bind": STORE_DIR, "mode": "rw"}},
        ports={f"{TRACKER_PORT}/tcp": ("127.0.0.1", None)},
        **options,
    )
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"][f"{TRACKER_PORT}/tcp"][0]["HostPort"]
        host_uri = f"http://127.0.0.1:{port}"

        def running() -> bool:
            container.reload()
            return container.status in ("created", "running")

        def log_tail() -> str:
            return container.logs(tail=30).decode(errors="replace")

        wait_until_healthy(host_uri, running, log_tail)
    except BaseException:
        container.remove(force=True)
        raise
    return container, host_uri


def wait_until_healthy(
    uri: str, still_running: Callable[[], bool], logs: Callable[[], str], timeout: float = 180.0
) -> None:
    """Poll ``/health`` until the server answers; fail with its log if it dies or never answers."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:  # noqa: S310 - ours
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if not still_running():
            break
        time.sleep(0.3)
    raise BackendError(f"the workflow's tracker did not start at {uri}; its log ends with:\n{logs()}")


@contextlib.contextmanager
def workflow_tracker_up(client: DockerClient, workflow: str, progress: Callable[[str], Any]) -> Iterator[str]:
    """The workflow's tracker on its store, up while the block runs (to pull runs or browse them)."""
    from docker.errors import NotFound

    try:
        client.volumes.get(store_volume(workflow))
    except NotFound:
        raise LookupError(
            f"workflow '{workflow}' has no tracker store on this Docker engine (volume"
            f" {store_volume(workflow)}); run it with --backend docker or swarm first"
        ) from None
    image = tracker_image(ImageBuilder(client, progress), workflow)
    name = resource_name(workflow, "tracker", secrets.token_hex(3))
    container, host_uri = start_tracker_container(
        client, image, workflow, name, {LABEL_WORKFLOW: workflow, LABEL_KIND: "tracker"}
    )
    try:
        yield host_uri
    finally:
        container.remove(force=True)


def remove_tracker_stores(client: DockerClient, workflow: str | None = None) -> list[str]:
    """Delete the tracker store volumes of ``workflow`` (or of every workflow); return their names.

    A store still used by a running tracker is left alone.
    """
    from docker.errors import APIError

    selected = [
        f"{LABEL_KIND}=tracker-store",
        LABEL_WORKFLOW if workflow is None else f"{LABEL_WORKFLOW}={workflow}",
    ]
    removed = []
    for volume in client.volumes.list(filters={"label": selected}):
        with contextlib.suppress(APIError):
            volume.remove()
            removed.append(volume.name)
    return removed
