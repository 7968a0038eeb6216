"""A deployment as a replicated Swarm service: N replicas, rolling updates, rolled back on failure.

The service runs ``replicas`` tasks with CPU and memory limits, restarts any
that stop, and is health checked on ``/ready`` by its image, so a task counts
as running only once its model is loaded. Deploying again updates it one task
at a time: the new task starts and must be healthy before the old one stops
(``start-first``); a task that fails makes Swarm roll the whole update back.

It joins an attachable overlay network of its own (other services and
containers reach it there by the deployment's name) and publishes its port
through the routing mesh with a virtual IP, the defaults of a real cluster;
``endpoint_mode`` and ``publish_mode`` (or ``SCANFLOW_SWARM_ENDPOINT_MODE`` /
``_PUBLISH_MODE``) switch to DNS round robin and the node's own port. A port
published in ``host`` mode can be bound by one task per node: more replicas
than nodes need ``port: 0`` (each task publishes a port of its own), and an
update then stops a task before starting its successor.

Swarm publishes on every interface of the nodes (it cannot bind to
127.0.0.1), so a swarm deployment needs a token unless ``insecure``. The image
exists on this node only: on a swarm of several nodes the tasks are placed
here.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanflow.deploy.container import ServingContainer, limits
from scanflow.deploy.errors import DeployCancelled, DeployError
from scanflow.deploy.naming import (
    LABEL_CONFIG,
    LABEL_DEPLOYMENT,
    LABEL_MODEL,
    LABEL_VERSION,
    deployment_filter,
    deployment_labels,
    object_name,
)
from scanflow.deploy.ports import port_taken, port_taken_message
from scanflow.deploy.readiness import served_version, wait_ready
from scanflow.deploy.serving_image import SERVICE_PORT
from scanflow.deploy.status import DeploymentStatus
from scanflow.run.backend import Progress
from scanflow.run.swarm import manager_node, publishing, ready_nodes
from scanflow.spec.deployment import Deployment

if TYPE_CHECKING:
    from docker import DockerClient

_SECOND = 1_000_000_000  # Swarm durations are in nanoseconds
_FAILED = {"failed", "rejected"}
_ROLLED_BACK = {"rollback_started", "rollback_paused", "rollback_completed", "paused"}
_FAILURES_ALLOWED = 3  # task failures of a new spec before the deployment is reported as failing
_PENDING_ALLOWED = 30.0  # seconds a task may wait for a node before its reason is reported


class SwarmDeployer:
    backend = "swarm"

    def __init__(self, client: DockerClient, progress: Progress):
        self.client = client
        self.progress = progress
        self.node_id = manager_node(client)

    # ------------------------------------------------------------ deploying
    def placement(self) -> tuple[str, ...]:
        """Tasks run here when the swarm has other nodes: the image was built on this one."""
        return (f"node.id=={self.node_id}",) if len(ready_nodes(self.client)) > 1 else ()

    def check(self, name: str, deployment: Deployment) -> None:
        """Refuse what cannot run, before anything is built: modes, ports, replicas per node."""
        _, publish = publishing(deployment.endpoint_mode, deployment.publish_mode)
        port = deployment.port
        if publish == "host" and port:
            nodes = 1 if self.placement() else len(ready_nodes(self.client))
            if deployment.replicas > nodes:
                raise DeployError(
                    f"{deployment.replicas} replicas cannot all publish port {port} in host mode: a node"
                    f" binds a host port for one task, and {nodes} node(s) can run them. Deploy at most"
                    f" {nodes} replica(s), give port 0 (each replica publishes a port of its own), or publish"
                    " through the routing mesh (publish mode ingress)"
                )
        if not port:
            return
        for service in self.client.services.list():
            ports = service.attrs.get("Endpoint", {}).get("Ports") or []
            ours = service.attrs["Spec"].get("Labels", {}).get(LABEL_DEPLOYMENT) == name
            if not ours and any(p.get("PublishedPort") == port for p in ports):
                raise DeployError(port_taken_message("the swarm", port, f"service {service.name}"))
        if self._service(name) is None and port_taken("0.0.0.0", port):
            raise DeployError(port_taken_message("this node", port))

    def deploy(
        self,
        name: str,
        deployment: Deployment,
        container: ServingContainer,
        cancelled: threading.Event | None = None,
    ) -> DeploymentStatus:
        existing = self._service(name)
        spec = self._spec(name, deployment, container)
        if (
            existing is not None
            and existing.attrs["Spec"].get("Labels", {}).get(LABEL_CONFIG) == container.config
        ):
            self.progress(f"'{name}' already runs {container.image}: nothing to change")
            self._wait(name, existing, deployment, container, cancelled)
            return replace(self._status(existing), changed=False)
        if existing is None:
            self.progress(f"creating service {object_name(name)} ({deployment.replicas} replica(s))")
            service = self._create(spec)
        else:
            self.progress(f"rolling update of {object_name(name)} to {container.image}")
            existing.update(**spec)
            service = existing
        try:
            self._wait(name, service, deployment, container, cancelled)
        except BaseException as error:
            if existing is None:  # a new deployment that never answered leaves nothing behind
                self.remove(name)
            elif isinstance(error, DeployError) and not isinstance(error, DeployCancelled):
                raise DeployError(f"{error}\n{self._after_rollback(service)}") from None
            raise
        finally:
            self._prune_secrets(name)
        return self._status(service)

    def _after_rollback(self, service: Any, timeout: float = 120.0) -> str:
        """Wait for Swarm to roll a failed update back (``failure_action``); say what runs now."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            service.reload()
            state = (service.attrs.get("UpdateStatus") or {}).get("State", "")
            if state in ("rollback_completed", "rollback_paused", "paused"):
                break
            time.sleep(1)
        if state == "rollback_completed":
            status = self._status(service)
            return f"Swarm rolled the update back: {status.image} answers again ({status.replicas} replicas)"
        return (
            f"the update is {state or 'still going'}: see `docker service ps {service.name}`, then"
            f" `docker service rollback {service.name}` or deploy again"
        )

    def _create(self, spec: dict[str, Any]) -> Any:
        from docker.errors import APIError

        try:
            return self.client.services.create(**spec)
        except APIError as error:
            raise DeployError(f"Swarm refused the service: {error.explanation or error}") from None

    def _spec(self, name: str, deployment: Deployment, container: ServingContainer) -> dict[str, Any]:
        from docker.types import (
            EndpointSpec,
            NetworkAttachmentConfig,
            Resources,
            RestartPolicy,
            RollbackConfig,
            ServiceMode,
            UpdateConfig,
        )

        endpoint, publish = publishing(deployment.endpoint_mode, deployment.publish_mode)
        port: dict[str, Any] = {"Protocol": "tcp", "TargetPort": SERVICE_PORT, "PublishMode": publish}
        if deployment.port:
            port["PublishedPort"] = deployment.port
        # A fixed host-mode port is held by the old task until it stops.
        order = "stop-first" if publish == "host" and deployment.port else "start-first"
        networks = [NetworkAttachmentConfig(self._network(name, container).id, aliases=[name])]
        if deployment.network:
            networks.append(NetworkAttachmentConfig(self._user_network(deployment.network), aliases=[name]))
        nano_cpus, memory = limits(deployment)
        return {
            "image": container.image,
            "args": container.args,
            "name": object_name(name),
            "labels": container.labels,
            "container_labels": container.labels,
            "env": container.env,
            "networks": networks,
            "mode": ServiceMode("replicated", replicas=deployment.replicas),
            "update_config": UpdateConfig(
                parallelism=1, delay=_SECOND, failure_action="rollback", monitor=5 * _SECOND, order=order
            ),
            "rollback_config": RollbackConfig(
                parallelism=1, failure_action="pause", monitor=5 * _SECOND, order=order
            ),
            "restart_policy": RestartPolicy(condition="any", delay=3 * _SECOND),
            "resources": Resources(cpu_limit=nano_cpus, mem_limit=memory),
            "endpoint_spec": EndpointSpec(mode=endpoint, ports=[port]),
            "constraints": list(self.placement()),
            "secrets": self._secrets(name, container),
            "stop_grace_period": 30 * _SECOND,  # the server writes out its prediction log
        }

    def _secrets(self, name: str, container: ServingContainer) -> list[Any]:
        """The files the server reads (the tracking server's certificates) as Swarm secrets.

        A bind mount would need each file on every node; a secret travels with
        the task, encrypted. Named by content, so a renewed file is a new secret.
        """
        from docker.types import SecretReference

        references = []
        for host, inside in container.files.items():
            data = Path(host).read_bytes()
            secret_name = f"{object_name(name)}-{hashlib.sha256(data).hexdigest()[:12]}"
            listed = self.client.secrets.list(filters={"name": secret_name})  # matches name prefixes
            secret = next((s for s in listed if s.name == secret_name), None)
            if secret is None:
                labels = deployment_labels(name, container.labels.get(LABEL_MODEL, ""), "")
                secret = self.client.secrets.create(name=secret_name, data=data, labels=labels)
            references.append(SecretReference(secret.id, secret_name, filename=inside, mode=0o444))
        return references

    def _prune_secrets(self, name: str) -> None:
        """Remove the deployment's secrets no task uses any more (Swarm refuses the others)."""
        from docker.errors import APIError

        for secret in self.client.secrets.list(filters=deployment_filter(name)):
            with contextlib.suppress(APIError):
                secret.remove()

    def _network(self, name: str, container: ServingContainer) -> Any:
        found = self.client.networks.list(names=[object_name(name)], filters=deployment_filter(name))
        if found:
            return found[0]
        labels = deployment_labels(name, container.labels.get(LABEL_MODEL, ""), "")
        return self.client.networks.create(
            object_name(name), driver="overlay", attachable=True, labels=labels
        )

    def _user_network(self, network: str) -> str:
        from docker.errors import NotFound

        try:
            return str(self.client.networks.get(network).id)
        except NotFound:
            raise DeployError(
                f"network '{network}' not found; a swarm service joins overlay networks"
            ) from None

    def _wait(
        self,
        name: str,
        service: Any,
        deployment: Deployment,
        container: ServingContainer,
        cancelled: threading.Event | None,
    ) -> None:
        first_pending: dict[str, float] = {}

        def problem() -> str | None:
            service.reload()
            update = service.attrs.get("UpdateStatus") or {}
            if update.get("State") in _ROLLED_BACK:
                return f"failed its rolling update, so Swarm rolled it back ({update.get('Message', '')})"
            tasks = self._tasks(service, container.config)
            failed = [t for t in tasks if t["Status"]["State"] in _FAILED]
            if len(failed) >= _FAILURES_ALLOWED:
                return f"has tasks failing ({failed[0]['Status'].get('Err') or 'no reason given'})"
            now = time.monotonic()
            for task in tasks:
                status = task["Status"]
                if status["State"] == "pending" and status.get("Err"):
                    since = first_pending.setdefault(task["ID"], now)
                    if now - since > _PENDING_ALLOWED:
                        return f"has a task Swarm cannot place: {status['Err']}"
            return None

        def urls() -> list[str]:
            service.reload()
            update = service.attrs.get("UpdateStatus") or {}
            if update.get("State") == "updating":
                return []
            running = self._running(service, container.config)
            if len(running) < deployment.replicas:
                return []
            return list(self._urls(service, running))

        def lacking() -> str:
            """What the service still lacks, asked once, when the wait runs out."""
            service.reload()
            update = service.attrs.get("UpdateStatus") or {}
            tasks = self._tasks(service, container.config)
            states = ", ".join(sorted(t["Status"]["State"] for t in tasks)) or "none yet"
            if update.get("State") == "updating":
                return f"the rolling update to finish ({update.get('Message', '')}; new tasks: {states})"
            return f"{deployment.replicas} running tasks (new tasks: {states})"

        wait_ready(
            urls,
            deployment.ready_seconds,
            problem,
            lambda: _logs(service),
            f"service '{name}'",
            cancelled,
            lacking=lacking,
        )

    # ------------------------------------------------------------- looking
    def _service(self, name: str) -> Any:
        for service in self.client.services.list(filters=deployment_filter(name)):
            if service.name == object_name(name):
                return service
        return None

    @staticmethod
    def _tasks(service: Any, config: str) -> list[dict[str, Any]]:
        """The service's tasks made from the spec whose hash is ``config`` (not those it replaces)."""
        return [
            t
            for t in service.tasks()
            if (t["Spec"]["ContainerSpec"].get("Labels") or {}).get(LABEL_CONFIG) == config
        ]

    def _running(self, service: Any, config: str) -> list[dict[str, Any]]:
        return [
            t
            for t in self._tasks(service, config)
            if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
        ]

    def _urls(self, service: Any, running: list[dict[str, Any]]) -> tuple[str, ...]:
        """Where the service answers from this node: its routing-mesh port, or each local task's own."""
        endpoint = service.attrs.get("Endpoint", {})
        ingress = [p for p in endpoint.get("Ports") or [] if p.get("PublishMode", "ingress") == "ingress"]
        if ingress:
            return (f"http://127.0.0.1:{ingress[0]['PublishedPort']}",)
        ports = sorted(
            {
                p["PublishedPort"]
                for t in running
                if t.get("NodeID") == self.node_id
                for p in (t["Status"].get("PortStatus") or {}).get("Ports") or []
                if p.get("PublishedPort")
            }
        )
        return tuple(f"http://127.0.0.1:{port}" for port in ports)

    def _status(self, service: Any) -> DeploymentStatus:
        service.reload()
        spec = service.attrs["Spec"]
        labels = spec.get("Labels", {})
        desired = int(spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0))
        image = spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
        running = self._running(service, labels.get(LABEL_CONFIG, ""))
        update = (service.attrs.get("UpdateStatus") or {}).get("State", "")
        if update in ("updating", "rollback_started"):
            state = "updating"
        elif update in _ROLLED_BACK:
            state = "rolled back"
        else:
            state = "running" if running and len(running) >= desired else "starting"
        urls = self._urls(service, running)
        return DeploymentStatus(
            name=labels.get(LABEL_DEPLOYMENT, service.name),
            backend=self.backend,
            model=labels.get(LABEL_MODEL, ""),
            version=labels.get(LABEL_VERSION) or (served_version(urls[0]) if urls else ""),  # when it follows
            state=state,
            replicas=f"{len(running)}/{desired}",
            urls=urls,
            image=image,
        )

    def statuses(self, name: str | None = None) -> list[DeploymentStatus]:
        return [self._status(s) for s in self.client.services.list(filters=deployment_filter(name))]

    def logs(self, name: str, write: Callable[[str], None], tail: int | None, follow: bool) -> bool:
        """Write the output of every replica, as Docker collects it; False when there is no such service."""
        service = self._service(name)
        if service is None:
            return False
        limit = tail if tail is not None else "all"
        for chunk in service.logs(stdout=True, stderr=True, follow=follow, tail=limit):
            write(chunk.decode(errors="replace"))
        return True

    # ------------------------------------------------------------ removing
    def remove(self, name: str) -> bool:
        """Remove the service and its network; False when there was none."""
        from scanflow.run.docker import _remove_network

        services = self.client.services.list(filters=deployment_filter(name))
        for service in services:
            with contextlib.suppress(Exception):
                service.remove()
            self._wait_gone(service.id)
        networks = self.client.networks.list(filters=deployment_filter(name))
        for network in networks:
            _remove_network(network, timeout=60)
        self._prune_secrets(name)
        return bool(services or networks)

    def _wait_gone(self, service_id: str, timeout: float = 60.0) -> None:
        """Wait for the removed service's containers to stop (gracefully), freeing their ports."""
        selected = {"label": [f"com.docker.swarm.service.id={service_id}"]}
        deadline = time.monotonic() + timeout
        while self.client.containers.list(all=True, filters=selected) and time.monotonic() < deadline:
            time.sleep(0.5)


def _logs(service: Any) -> str:
    with contextlib.suppress(Exception):
        chunks = service.logs(stdout=True, stderr=True, tail=30)
        return b"".join(chunks).decode(errors="replace")
    return "(no log)"
