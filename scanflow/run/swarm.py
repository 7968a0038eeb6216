"""The Swarm backend: each step attempt a replicated-job service, spread over the cluster's nodes.

Swarm places each job on a node with room for its reservations and matching
its placement constraints; the scheduler follows the job's task to completion
and its exit code. The run's network is an attachable overlay; the tracker is a
long-running service (one replica, rolling updates) that jobs reach by name.

Service discovery and publishing are settings, because clusters differ:
``endpoint_mode`` ``vip`` (default) or ``dnsrr``, ``publish_mode`` ``ingress``
(default, the routing mesh) or ``host`` (the port of the node running the task).

A local volume lives on one node. With several nodes, steps exchange files only
when the run folder is on storage every node mounts at the same path
(``shared_folders``) or through a volume driver the user names (NFS...);
otherwise every job is placed on this node, and Scanflow says so.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scanflow.graph import Step
from scanflow.run.backend import BackendError, Exit, ExitCallback, ExitKind, Handle, Launch, Progress
from scanflow.run.capacity import Capacity, CapacityError
from scanflow.run.container_step import BIND_OPTIONS, container_step
from scanflow.run.docker import DockerBackend, _stream_logs
from scanflow.run.docker_engine import labels, resource_name, tracker_alias
from scanflow.run.images import DATA_DIR, ImageBuilder
from scanflow.run.workflow_tracker import (
    STORE_DIR,
    TRACKER_PORT,
    TrackerAddress,
    network_uri,
    server_command,
    server_environment,
    store_volume,
    tracker_image,
    wait_until_healthy,
)

if TYPE_CHECKING:
    from docker import DockerClient

    from scanflow.run.state import RunState

ENDPOINT_MODES = ("vip", "dnsrr")
PUBLISH_MODES = ("ingress", "host")
_DONE_STATES = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}
_POLL = 0.3


class ServiceHandle(Handle):
    def __init__(self, launch: Launch, service: Any):
        super().__init__(launch)
        self.service = service


class SwarmBackend(DockerBackend):
    """Runs steps as Swarm jobs; settings default to the ``SCANFLOW_SWARM_*`` variables."""

    name = "swarm"

    def __init__(
        self,
        max_parallel: int | None = None,
        grace: float = 10.0,
        keep_tracker: bool = False,
        endpoint_mode: str | None = None,
        publish_mode: str | None = None,
        volume_driver: str | None = None,
        volume_options: dict[str, str] | None = None,
        shared_folders: bool | None = None,
        gpu_resource: str | None = None,
        client: DockerClient | None = None,
    ):
        super().__init__(max_parallel, grace, keep_tracker, client)
        env = os.environ
        self.endpoint_mode, self.publish_mode = publishing(endpoint_mode, publish_mode)
        self.volume_driver = volume_driver or env.get("SCANFLOW_SWARM_VOLUME_DRIVER")
        self.volume_options = volume_options or _options(env.get("SCANFLOW_SWARM_VOLUME_OPTIONS", ""))
        self.shared_folders = (
            shared_folders if shared_folders is not None else env.get("SCANFLOW_SWARM_SHARED_FOLDERS") == "1"
        )
        self.gpu_resource = gpu_resource or env.get("SCANFLOW_SWARM_GPU_RESOURCE", "NVIDIA-GPU")
        self.node_id = manager_node(self.client)
        self._nodes = ready_nodes(self.client)
        self.capacity = Capacity(
            cpu=sum(n.cpu for n in self._nodes),
            memory=sum(n.memory for n in self._nodes),
            gpu=sum(n.gpu for n in self._nodes),
            max_parallel=max_parallel,
        )
        self._pin_here = len(self._nodes) > 1 and not (self.shared_folders or self.volume_driver)
        self._services: dict[str, Any] = {}
        self._tracker_service: Any = None

    def check_capacity(self, steps: list[Step]) -> None:
        """Each step must fit on one node (a job is never split), not only in the sum."""
        problems = []
        for step in steps:
            r = step.executor.resources
            if not any(n.fits(r.cpu_request, r.memory_bytes, r.gpu) for n in self._nodes):
                problems.append(
                    f"step '{step.key}' asks for {r.cpu_request:g} CPUs, {r.memory or 'no'} memory and"
                    f" {r.gpu} GPUs, but no node of the swarm has that much"
                )
        if problems:
            raise CapacityError("\n".join(problems) + "\nLower the step's resources or add a larger node.")

    # ------------------------------------------------------------------ run
    def open_run(self, state: RunState, tracking_uri: str | None, progress: Progress) -> str | None:
        if self._pin_here:
            progress(
                "the swarm has several nodes but the run folder is not shared: every job runs on this"
                " node (set SCANFLOW_SWARM_SHARED_FOLDERS=1 or a volume driver to spread them)"
            )
        return super().open_run(state, tracking_uri, progress)

    def _create_network(self, workflow: str, run_id: str) -> Any:
        return self.client.networks.create(
            resource_name(workflow, run_id),
            driver="overlay",
            attachable=True,
            labels=labels(workflow, run_id, "network"),
        )

    def _create_volume(self, name: str, folder: Any, run_labels: dict[str, str]) -> None:
        if not self.volume_driver:
            super()._create_volume(name, folder, run_labels)

    def _mounts(self) -> list[Any]:
        from docker.types import DriverConfig, Mount

        assert self._folders is not None and self._state is not None
        mounts = []
        for name, (folder, target) in self._folders.volumes().items():
            if self.volume_driver:
                driver = DriverConfig(self.volume_driver, {**self.volume_options})
            else:
                driver = DriverConfig("local", {**BIND_OPTIONS, "device": str(folder)})
            mounts.append(
                Mount(
                    target,
                    name,
                    type="volume",
                    driver_config=driver,
                    labels=labels(self._state.workflow, self._state.run_id, "run-folder"),
                )
            )
        return mounts

    def _start_tracker(self, state: RunState, progress: Progress) -> TrackerAddress:
        from docker.types import (
            EndpointSpec,
            Mount,
            NetworkAttachmentConfig,
            RestartPolicy,
            ServiceMode,
            UpdateConfig,
        )

        workflow = state.workflow
        progress(f"starting the tracker service of '{workflow}' ({network_uri(workflow)})")
        image = tracker_image(ImageBuilder(self.client, progress), workflow)
        port = _free_port()
        command = server_command()
        service = self.client.services.create(
            image,
            command=command[:1],
            args=command[1:],
            name=resource_name(workflow, state.run_id, "tracker"),
            labels=labels(workflow, state.run_id, "tracker"),
            container_labels=labels(workflow, state.run_id, "tracker"),
            env=server_environment(workflow),
            mounts=[Mount(STORE_DIR, store_volume(workflow), labels=labels(workflow, kind="tracker-store"))],
            networks=[NetworkAttachmentConfig(self._network.id, aliases=[tracker_alias(workflow)])],
            mode=ServiceMode("replicated", replicas=1),
            update_config=UpdateConfig(parallelism=1, order="stop-first", failure_action="rollback"),
            restart_policy=RestartPolicy(condition="any", delay=2_000_000_000),
            endpoint_spec=EndpointSpec(
                mode=self.endpoint_mode,
                ports=[
                    {
                        "Protocol": "tcp",
                        "TargetPort": TRACKER_PORT,
                        "PublishedPort": port,
                        "PublishMode": self.publish_mode,
                    }
                ],
            ),
            # The store is a local volume and the host reaches a host-mode port on its own node.
            constraints=[f"node.id=={self.node_id}"],
        )
        self._tracker_service = service
        host_uri = f"http://127.0.0.1:{port}"

        def running() -> bool:
            tasks = service.tasks()
            return not tasks or any(t["Status"]["State"] not in _DONE_STATES for t in tasks)

        def log_tail() -> str:
            with contextlib.suppress(Exception):
                chunks = service.logs(stdout=True, stderr=True, tail=30)
                return b"".join(chunks).decode(errors="replace")
            return "(no log)"

        wait_until_healthy(host_uri, running, log_tail)
        return TrackerAddress(host_uri, network_uri(workflow))

    # ----------------------------------------------------------------- steps
    def start(self, launch: Launch, on_exit: ExitCallback) -> Handle:
        from docker.types import Mount, NetworkAttachmentConfig, Resources, RestartPolicy, ServiceMode

        if self._network is None or self._folders is None or self._state is None:
            raise BackendError("the Swarm backend was not opened for a run (open_run)")
        state = self._state
        step = launch.step
        image = self._images[step.key]
        inside = container_step(launch, image, self.tracker.network_uri if self.tracker else None)
        mounts = self._mounts()
        for host, target in inside.read_only_binds.items():
            mounts.append(Mount(target, host, type="bind", read_only=True))
        r = step.executor.resources
        nano = int(r.cpu * 1e9) if r.cpu is not None else None
        memory = r.memory_bytes if r.memory is not None else None
        resources = Resources(
            cpu_limit=nano,
            cpu_reservation=nano,
            mem_limit=memory,
            mem_reservation=memory,
            generic_resources={self.gpu_resource: r.gpu} if r.gpu else None,
        )
        constraints = list(step.executor.placement)
        if self._pin_here:
            constraints.append(f"node.id=={self.node_id}")
        service = self.client.services.create(
            image.tag,
            command=inside.command[:1] or None,
            args=inside.command[1:] or None,
            name=resource_name(state.workflow, state.run_id, step.key, str(launch.attempt)),
            labels=labels(state.workflow, state.run_id, "step", step=step.key),
            container_labels=labels(state.workflow, state.run_id, "step", step=step.key),
            env=inside.environment,
            user=inside.user,
            workdir=DATA_DIR,
            mounts=mounts,
            networks=[NetworkAttachmentConfig(self._network.id)],
            mode=ServiceMode("replicated-job", replicas=1),
            restart_policy=RestartPolicy(condition="none"),
            resources=resources,
            constraints=constraints,
            stop_grace_period=int(self.grace * 1e9),
        )
        with self._lock:
            self._services[service.id] = service
        handle = ServiceHandle(launch, service)
        threading.Thread(target=self._follow_job, args=(handle, on_exit), daemon=True).start()
        return handle

    def _follow_job(self, handle: ServiceHandle, on_exit: ExitCallback) -> None:
        """Poll the job's task until it ends; stream its container's log when it runs here."""
        service = handle.service
        streaming: threading.Thread | None = None
        try:
            while True:
                tasks = service.tasks()
                task = tasks[0] if tasks else None
                status = task["Status"] if task else {}
                container_id = status.get("ContainerStatus", {}).get("ContainerID")
                if container_id and streaming is None:
                    streaming = self._stream_local(container_id, handle.launch.log_path)
                if task and status.get("State") in _DONE_STATES:
                    break
                time.sleep(_POLL)
            if streaming is not None:
                streaming.join(timeout=10)
            else:  # ran on another node: take its log from the service
                self._write_service_log(service, handle.launch.log_path)
            code = status.get("ContainerStatus", {}).get("ExitCode")
            oom = self._oom_killed(container_id)
        except Exception as error:
            self._remove_service(service)
            on_exit(Exit(None, ExitKind.ERROR, f"lost the job: {error}"))
            return
        self._remove_service(service)
        state = status.get("State")
        if handle.stop_reason is not None:
            on_exit(Exit(code, handle.stop_reason))
        elif oom:
            memory = handle.launch.step.executor.resources.memory
            on_exit(Exit(code, ExitKind.OOM, f"out of memory: killed at its memory limit of {memory}"))
        elif state in ("rejected", "orphaned") or code is None:
            reason = status.get("Err", "no reason given")
            on_exit(Exit(code, ExitKind.ERROR, f"the swarm {state} the job: {reason}"))
        else:
            on_exit(Exit(int(code)))

    def _stream_local(self, container_id: str, log_path: Any) -> threading.Thread | None:
        from docker.errors import NotFound

        try:
            container = self.client.containers.get(container_id)
        except NotFound:
            return None  # on another node
        thread = threading.Thread(target=_stream_logs, args=(container, log_path), daemon=True)
        thread.start()
        return thread

    @staticmethod
    def _write_service_log(service: Any, log_path: Any) -> None:
        with contextlib.suppress(Exception), open(log_path, "ab") as log:
            for chunk in service.logs(stdout=True, stderr=True, follow=False):
                log.write(chunk)

    def _oom_killed(self, container_id: str | None) -> bool:
        if not container_id:
            return False
        try:
            return bool(self.client.containers.get(container_id).attrs["State"].get("OOMKilled"))
        except Exception:
            return False

    def stop(self, handle: Handle, reason: ExitKind) -> None:
        handle.stop_reason = reason
        if isinstance(handle, ServiceHandle):
            container_id = None
            with contextlib.suppress(Exception):
                tasks = handle.service.tasks()
                container_id = tasks[0]["Status"]["ContainerStatus"]["ContainerID"] if tasks else None
            if container_id:  # stop the task's container, so the job ends with an exit code
                with contextlib.suppress(Exception):
                    container = self.client.containers.get(container_id)
                    threading.Thread(
                        target=lambda: container.stop(timeout=int(self.grace)), daemon=True
                    ).start()
                    return
            self._remove_service(handle.service)

    def _remove_service(self, service: Any) -> None:
        with self._lock:
            self._services.pop(service.id, None)
        with contextlib.suppress(Exception):
            service.remove()

    def close(self) -> None:
        with self._lock:
            services = list(self._services.values())
        for service in services:
            self._remove_service(service)
        super().close()

    def _stop_tracker(self) -> None:
        if self._tracker_service is not None:
            self._remove_service(self._tracker_service)
            self._tracker_service = None
        self.tracker = None


# ------------------------------------------------------------------ helpers
def publishing(endpoint_mode: str | None = None, publish_mode: str | None = None) -> tuple[str, str]:
    """Service discovery and publishing modes: given, else ``SCANFLOW_SWARM_*``, else VIP and ingress."""
    endpoint = endpoint_mode or os.environ.get("SCANFLOW_SWARM_ENDPOINT_MODE", "vip")
    publish = publish_mode or os.environ.get("SCANFLOW_SWARM_PUBLISH_MODE", "ingress")
    if endpoint not in ENDPOINT_MODES:
        raise BackendError(f"endpoint mode must be one of {ENDPOINT_MODES}, got '{endpoint}'")
    if publish not in PUBLISH_MODES:
        raise BackendError(f"publish mode must be one of {PUBLISH_MODES}, got '{publish}'")
    if endpoint == "dnsrr" and publish == "ingress":
        raise BackendError(
            "endpoint mode dnsrr cannot publish through the routing mesh: set the publish mode to"
            " 'host' (SCANFLOW_SWARM_PUBLISH_MODE=host; --publish-mode host for deploy and export)"
        )
    return endpoint, publish


def manager_node(client: DockerClient) -> str:
    """This engine's node id; an error naming the fix when it is not a Swarm manager."""
    swarm = client.info().get("Swarm", {})
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise BackendError(
            "this Docker engine is not a Swarm manager: run `docker swarm init` (or join a swarm as a"
            " manager) first, or use --backend docker"
        )
    return str(swarm["NodeID"])


class _Node:
    def __init__(self, cpu: float, memory: int, gpu: int):
        self.cpu, self.memory, self.gpu = cpu, memory, gpu

    def fits(self, cpu: float, memory: int, gpu: int) -> bool:
        return cpu <= self.cpu + 1e-9 and memory <= self.memory and gpu <= self.gpu


def ready_nodes(client: DockerClient) -> list[_Node]:
    """The nodes tasks can be placed on (ready and active), with what each has."""
    nodes = []
    for node in client.nodes.list():
        attrs = node.attrs
        if attrs["Status"]["State"] != "ready" or attrs["Spec"].get("Availability") != "active":
            continue
        resources = attrs["Description"]["Resources"]
        generic = resources.get("GenericResources") or []
        gpus = sum(int(g.get("DiscreteResourceSpec", {}).get("Value", 0)) for g in generic)
        nodes.append(_Node(resources["NanoCPUs"] / 1e9, resources["MemoryBytes"], gpus))
    return nodes


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _options(text: str) -> dict[str, str]:
    """``type=nfs;o=addr=10.0.0.1,rw;device=:/export``: options split by ``;``, keys by the first ``=``."""
    found = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        key, _, value = item.partition("=")
        found[key] = value
    return found


@dataclass(frozen=True)
class ServiceStatus:
    """One Scanflow service of a swarm, as `scanflow swarm status` lists it."""

    name: str
    workflow: str
    run_id: str
    kind: str
    step: str
    mode: str
    tasks: str  # "running 1/1", "complete 1/1"...


def service_statuses(client: DockerClient, workflow: str | None = None) -> list[ServiceStatus]:
    """The services Scanflow made (for ``workflow``, or all), with the states of their tasks."""
    from scanflow.run.docker_engine import LABEL_KIND, LABEL_RUN, LABEL_STEP, LABEL_WORKFLOW, label_filter

    rows = []
    for service in client.services.list(filters={"label": label_filter(workflow)}):
        spec_labels = service.attrs["Spec"].get("Labels", {})
        mode = next(iter(service.attrs["Spec"].get("Mode", {"?": None})))
        states: dict[str, int] = {}
        tasks = service.tasks()
        for task in tasks:
            state = task["Status"]["State"]
            states[state] = states.get(state, 0) + 1
        summary = ", ".join(f"{state} {count}/{len(tasks)}" for state, count in sorted(states.items()))
        rows.append(
            ServiceStatus(
                service.name,
                spec_labels.get(LABEL_WORKFLOW, ""),
                spec_labels.get(LABEL_RUN, ""),
                spec_labels.get(LABEL_KIND, ""),
                spec_labels.get(LABEL_STEP, ""),
                mode,
                summary or "no tasks yet",
            )
        )
    return sorted(rows, key=lambda row: (row.workflow, row.run_id, row.kind != "tracker", row.name))
