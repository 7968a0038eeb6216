"""A deployment as one container on a Docker engine, published on 127.0.0.1 unless told otherwise.

The container restarts with the engine (``unless-stopped``) and is health
checked on ``/ready`` by its image. One container cannot be updated in place:
deploying again stops the old one, starts the new one on the same port and,
should the new one not become ready, removes it and starts the old one again.
So an update costs a few seconds without service (use swarm for none), and a
failed one leaves what ran before.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from scanflow.deploy.container import ServingContainer, limits
from scanflow.deploy.errors import DeployError
from scanflow.deploy.naming import (
    LABEL_CONFIG,
    LABEL_DEPLOYMENT,
    LABEL_MODEL,
    LABEL_VERSION,
    deployment_filter,
    object_name,
)
from scanflow.deploy.ports import port_taken, port_taken_message
from scanflow.deploy.readiness import served_version, wait_ready
from scanflow.deploy.serving_image import SERVICE_PORT
from scanflow.deploy.status import DeploymentStatus
from scanflow.run.backend import Progress
from scanflow.spec.deployment import Deployment

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

_PREVIOUS = "-previous"  # suffix of the container being replaced, kept until the new one is ready
_STOP_GRACE = 30  # seconds: the server writes out its prediction log when stopped
_SWARM_TASK = "com.docker.swarm.service.id"


class DockerDeployer:
    backend = "docker"

    def __init__(self, client: DockerClient, progress: Progress):
        self.client = client
        self.progress = progress

    # ------------------------------------------------------------ deploying
    def check(self, name: str, deployment: Deployment) -> None:
        """Refuse a port something else holds, before anything is built."""
        if deployment.port == 0:
            return
        current = self._current(name)
        if current is not None and _published(current) == deployment.port:
            return  # ours: the new container takes it over
        holder = self._holder(deployment.port)
        if holder or port_taken(deployment.host, deployment.port):
            raise DeployError(port_taken_message(deployment.host, deployment.port, holder))

    def deploy(
        self,
        name: str,
        deployment: Deployment,
        container: ServingContainer,
        cancelled: threading.Event | None = None,
    ) -> DeploymentStatus:
        current = self._current(name)
        if current is not None and current.labels.get(LABEL_CONFIG) == container.config:
            current.reload()
            if current.status == "running":
                self.progress(f"'{name}' already runs {container.image}: nothing to change")
                self._wait(name, current, deployment, cancelled)
                return replace(self._status(current), changed=False)
        if current is not None and deployment.port == 0:  # any port: keep the one clients know
            deployment = deployment.model_copy(update={"port": _published(current) or 0})
        previous = self._set_aside(name, current) if current is not None else None
        started: Container | None = None
        try:
            started = self._start(name, deployment, container)
            self._wait(name, started, deployment, cancelled)
        except BaseException:
            if started is not None:
                _remove(started)
            if previous is not None:
                self._restore(name, previous, deployment)
            raise
        if previous is not None:
            _remove(previous)
        return self._status(started)

    def _set_aside(self, name: str, current: Container) -> Container:
        """Stop the running container, keeping it to start again if the new one fails."""
        self.progress(f"stopping the running container of '{name}' to replace it")
        for stale in self.client.containers.list(all=True, filters={"name": object_name(name) + _PREVIOUS}):
            _remove(stale)
        current.rename(object_name(name) + _PREVIOUS)
        with contextlib.suppress(Exception):
            current.stop(timeout=_STOP_GRACE)
        return current

    def _restore(self, name: str, previous: Container, deployment: Deployment) -> None:
        """Start the replaced container again and wait until it answers, as before the update."""
        with contextlib.suppress(Exception):
            previous.rename(object_name(name))
            previous.start()
            self._wait(name, previous, deployment, None)
            where = ", ".join(self._urls(previous))
            self.progress(f"started the previous container of '{name}' again: it answers at {where}")

    def _start(self, name: str, deployment: Deployment, container: ServingContainer) -> Container:
        from docker.errors import APIError, NotFound

        nano_cpus, memory = limits(deployment)
        options: dict[str, Any] = {}
        if deployment.network:
            alias = self.client.api.create_endpoint_config(aliases=[name])
            options = {"network": deployment.network, "networking_config": {deployment.network: alias}}
        self.progress(f"starting '{name}' ({container.image})")
        try:
            return self.client.containers.run(
                container.image,
                container.args,
                name=object_name(name),
                detach=True,
                labels=container.labels,
                environment=container.env,
                volumes={host: {"bind": inside, "mode": "ro"} for host, inside in container.files.items()},
                ports={f"{SERVICE_PORT}/tcp": (deployment.host, deployment.port or None)},
                restart_policy={"Name": "unless-stopped"},
                nano_cpus=nano_cpus,
                mem_limit=memory,
                memswap_limit=memory,
                **options,
            )
        except NotFound as error:
            raise DeployError(f"cannot start '{name}': {error.explanation}") from None
        except APIError as error:
            text = str(error.explanation or error)
            if "already allocated" in text or "address already in use" in text:
                self._remove_leftover(name)
                raise DeployError(port_taken_message(deployment.host, deployment.port)) from None
            raise DeployError(f"cannot start '{name}': {text}") from None

    def _remove_leftover(self, name: str) -> None:
        """A container created but not started (its port was taken) must not stay behind."""
        for found in self.client.containers.list(all=True, filters={"name": f"^/{object_name(name)}$"}):
            _remove(found)

    def _wait(
        self, name: str, container: Container, deployment: Deployment, cancelled: threading.Event | None
    ) -> None:
        def problem() -> str | None:
            container.reload()
            if container.status in ("exited", "dead") or container.attrs.get("RestartCount", 0):
                code = container.attrs["State"].get("ExitCode")
                return f"stopped (exit code {code})"
            return None

        def logs() -> str:
            with contextlib.suppress(Exception):
                return container.logs(tail=30).decode(errors="replace")
            return "(no log)"

        def urls() -> list[str]:
            container.reload()
            return list(self._urls(container))

        wait_ready(urls, deployment.ready_seconds, problem, logs, f"deployment '{name}'", cancelled)

    # ------------------------------------------------------------- looking
    def _containers(self, name: str | None = None) -> list[Container]:
        """The deployment's containers, not the tasks of a swarm deployment (they carry its labels too)."""
        found = self.client.containers.list(all=True, filters=deployment_filter(name))
        return [c for c in found if _SWARM_TASK not in c.labels]

    def _current(self, name: str) -> Container | None:
        for container in self._containers(name):
            if container.name == object_name(name):
                return container
        return None

    def _holder(self, port: int) -> str:
        """The container publishing ``port`` on this engine, if any."""
        for container in self.client.containers.list():
            ports = container.attrs["NetworkSettings"].get("Ports") or {}
            published = {b.get("HostPort") for bindings in ports.values() for b in bindings or []}
            if str(port) in published:
                return f"container {container.name}"
        return ""

    def _urls(self, container: Container) -> tuple[str, ...]:
        bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(f"{SERVICE_PORT}/tcp") or []
        urls = []
        for binding in bindings[:1]:
            host = binding.get("HostIp") or "127.0.0.1"
            host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
            urls.append(f"http://{host}:{binding['HostPort']}")
        return tuple(urls)

    def _status(self, container: Container) -> DeploymentStatus:
        container.reload()
        labels = container.labels
        health = container.attrs["State"].get("Health", {}).get("Status")
        state = {"healthy": "running", "starting": "starting", "unhealthy": "failed"}.get(
            health or "", container.status
        )
        running = container.status == "running"
        urls = self._urls(container) if running else ()
        must_ask = urls and (state == "starting" or not labels.get(LABEL_VERSION))
        served = served_version(urls[0]) if must_ask else ""  # one request, only when it tells something
        version = labels.get(LABEL_VERSION) or served
        if state == "starting" and served:
            state = "running"  # it answers /ready before the engine's first health check has run
        return DeploymentStatus(
            name=labels.get(LABEL_DEPLOYMENT, container.name),
            backend=self.backend,
            model=labels.get(LABEL_MODEL, ""),
            version=version,
            state=state,
            replicas=f"{int(running)}/1",
            urls=urls,
            image=(container.image.tags or [container.image.id])[0] if container.image else "",
        )

    def statuses(self, name: str | None = None) -> list[DeploymentStatus]:
        return [self._status(c) for c in self._containers(name) if not c.name.endswith(_PREVIOUS)]

    def logs(self, name: str, write: Callable[[str], None], tail: int | None, follow: bool) -> bool:
        """Write the server's output (the last ``tail`` lines, then more with ``follow``); False when none."""
        container = self._current(name)
        if container is None:
            return False
        chunks = container.logs(stream=True, follow=follow, tail=tail if tail is not None else "all")
        for chunk in chunks:
            write(chunk.decode(errors="replace"))
        return True

    # ------------------------------------------------------------ removing
    def remove(self, name: str) -> bool:
        """Stop (gracefully) and remove every container of deployment ``name``; False when none."""
        found = self._containers(name)
        for container in found:
            with contextlib.suppress(Exception):
                container.stop(timeout=_STOP_GRACE)
            _remove(container)
        return bool(found)


def _published(container: Container) -> int | None:
    bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(f"{SERVICE_PORT}/tcp") or []
    if not bindings:
        bindings = (container.attrs["HostConfig"].get("PortBindings") or {}).get(f"{SERVICE_PORT}/tcp") or []
    for binding in bindings:
        with contextlib.suppress(TypeError, ValueError):
            return int(binding["HostPort"])
    return None


def _remove(container: Container) -> None:
    with contextlib.suppress(Exception):
        container.remove(force=True)
