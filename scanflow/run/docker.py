"""The Docker backend: each step a container on one Docker engine, on a network of its run.

A run gets a user-defined bridge network, volumes holding its data and step
folders, and (when tracked) a tracker container that steps reach as
``http://tracker-<workflow>:5000``. Each attempt is a container that runs to
completion; its output streams into the step's log file, its exit code (and an
OOM kill) comes back to the scheduler. ``close`` removes every container and
the network of the run, whatever happened; the tracker's store stays.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanflow.graph import Step
from scanflow.run.backend import Backend, BackendError, Exit, ExitCallback, ExitKind, Handle, Launch, Progress
from scanflow.run.capacity import Capacity
from scanflow.run.container_step import BIND_OPTIONS, RunFolders, container_step
from scanflow.run.docker_engine import LABEL_KIND, connect, label_filter, labels, resource_name
from scanflow.run.images import ImageBuilder, StepImage
from scanflow.run.workflow_tracker import (
    TrackerAddress,
    network_uri,
    reachable_from_containers,
    start_tracker_container,
    tracker_image,
)

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

    from scanflow.run.state import RunState


class ContainerHandle(Handle):
    def __init__(self, launch: Launch, container: Container):
        super().__init__(launch)
        self.container = container


class DockerBackend(Backend):
    """Runs steps as containers on the engine DOCKER_HOST names (checked when created).

    ``grace`` is how long a stopped step gets between SIGTERM and SIGKILL;
    ``keep_tracker`` leaves the tracker container up after the run for browsing.
    """

    name = "docker"

    def __init__(
        self,
        max_parallel: int | None = None,
        grace: float = 10.0,
        keep_tracker: bool = False,
        client: DockerClient | None = None,
    ):
        self.client = client or connect()
        info = self.client.info()
        host = Capacity.of_host()
        self.capacity = Capacity(
            cpu=float(info.get("NCPU") or host.cpu),
            memory=int(info.get("MemTotal") or host.memory),
            gpu=host.gpu,
            max_parallel=max_parallel,
        )
        self.grace = grace
        self.keep_tracker = keep_tracker or os.environ.get("SCANFLOW_KEEP_TRACKER") == "1"
        self.tracker: TrackerAddress | None = None
        self._images: dict[str, StepImage] = {}
        self._state: RunState | None = None
        self._network: Any = None
        self._folders: RunFolders | None = None
        self._tracker_container: Any = None
        self._containers: dict[str, Container] = {}
        self._lock = threading.Lock()
        self._progress: Progress = print

    def check_capacity(self, steps: list[Step]) -> None:
        self.capacity.check(steps, where="the Docker engine")

    # ------------------------------------------------------------------ run
    def open_run(self, state: RunState, tracking_uri: str | None, progress: Progress) -> str | None:
        self._state, self._progress = state, progress
        workflow, run_id = state.workflow, state.run_id
        self._clear_leftovers(run_id, progress)
        self._network = self._create_network(workflow, run_id)
        self._folders = self._run_folders(state)
        for name, (folder, _) in self._folders.volumes().items():
            folder.mkdir(parents=True, exist_ok=True)
            self._create_volume(name, folder, labels(workflow, run_id, "run-folder"))
        if tracking_uri is None or reachable_from_containers(tracking_uri):
            return None  # untracked, or a server the steps reach as it is
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # its URLs are internal
        self.tracker = self._start_tracker(state, progress)
        return self.tracker.host_uri

    def _clear_leftovers(self, run_id: str, progress: Progress) -> None:
        """Remove what an attempt of this run left when its Scanflow process was killed.

        Its containers would still run the steps a resume starts again, under the
        same names. A run that ended normally, or whose lifeline cleared it, left
        nothing, so this finds nothing.
        """
        if removed := clear_run(self.client, run_id):
            progress(f"removed {removed} an interrupted attempt of run {run_id} left")

    def _create_network(self, workflow: str, run_id: str) -> Any:
        return self.client.networks.create(
            resource_name(workflow, run_id), driver="bridge", labels=labels(workflow, run_id, "network")
        )

    def _create_volume(self, name: str, folder: Path, run_labels: dict[str, str]) -> None:
        """A named volume showing a host folder of the run, so the host sees what steps write."""
        self.client.volumes.create(
            name, driver="local", driver_opts={**BIND_OPTIONS, "device": str(folder)}, labels=run_labels
        )

    @staticmethod
    def _run_folders(state: RunState) -> RunFolders:
        return RunFolders(
            data_volume=resource_name(state.workflow, state.run_id, "data"),
            nodes_volume=resource_name(state.workflow, state.run_id, "nodes"),
            data_dir=state.data_dir,
            nodes_dir=state.directory / "nodes",
        )

    def _start_tracker(self, state: RunState, progress: Progress) -> TrackerAddress:
        workflow = state.workflow
        progress(f"starting the tracker of '{workflow}' ({network_uri(workflow)})")
        self._tracker_container, host_uri = start_tracker_container(
            self.client,
            tracker_image(ImageBuilder(self.client, progress), workflow),
            workflow,
            resource_name(workflow, state.run_id, "tracker"),
            labels(workflow, state.run_id, "tracker"),
            self._network.name,
        )
        return TrackerAddress(host_uri, network_uri(workflow))

    # -------------------------------------------------------------- images
    def prepare(self, steps: list[Step], base_dir: Path, progress: Progress) -> dict[str, str]:
        workflow = self._state.workflow if self._state else "workflow"  # names images by workflow
        builder = ImageBuilder(self.client, progress)
        for step in steps:
            self._images[step.key] = builder.step_image(step, base_dir, workflow)
        return {key: image.tag.rpartition(":")[2] for key, image in self._images.items()}

    # ----------------------------------------------------------------- steps
    def start(self, launch: Launch, on_exit: ExitCallback) -> Handle:
        if self._network is None or self._folders is None or self._state is None:
            raise BackendError("the Docker backend was not opened for a run (open_run)")
        step = launch.step
        image = self._images[step.key]
        inside = container_step(launch, image, self.tracker.network_uri if self.tracker else None)
        volumes: dict[str, dict[str, str]] = {
            name: {"bind": target, "mode": "rw"} for name, (_, target) in self._folders.volumes().items()
        }
        for host, target in inside.read_only_binds.items():
            volumes[host] = {"bind": target, "mode": "ro"}
        resources = step.executor.resources
        options: dict[str, Any] = {}
        if resources.cpu is not None:
            options["nano_cpus"] = int(resources.cpu * 1e9)
        if resources.memory is not None:
            options["mem_limit"] = resources.memory_bytes
            options["memswap_limit"] = resources.memory_bytes  # no swap: the limit is the limit
        if resources.gpu:
            from docker.types import DeviceRequest

            options["device_requests"] = [DeviceRequest(count=resources.gpu, capabilities=[["gpu"]])]
        if inside.user is not None:
            options["user"] = inside.user
        state = self._state
        container = self.client.containers.create(
            image.tag,
            inside.command or None,
            name=resource_name(state.workflow, state.run_id, step.key, str(launch.attempt), limit=128),
            labels=labels(state.workflow, state.run_id, "step", step=step.key),
            environment=inside.environment,
            volumes=volumes,
            network=self._network.name,
            working_dir="/data",
            **options,
        )
        with self._lock:
            self._containers[container.id] = container
        handle = ContainerHandle(launch, container)
        try:
            container.start()
        except Exception:
            self._remove(container)
            raise
        threading.Thread(
            target=self._follow, args=(handle, on_exit), name=f"container-{step.key}", daemon=True
        ).start()
        return handle

    def _follow(self, handle: ContainerHandle, on_exit: ExitCallback) -> None:
        """Stream the log, wait for the end, report how it ended, remove the container."""
        container = handle.container
        log_path = handle.launch.log_path
        streamer = threading.Thread(target=_stream_logs, args=(container, log_path), daemon=True)
        streamer.start()
        try:
            code = int(container.wait()["StatusCode"])
            streamer.join(timeout=10)
            container.reload()
            oom = bool(container.attrs["State"].get("OOMKilled"))
        except Exception as error:
            self._remove(container)
            on_exit(Exit(None, ExitKind.ERROR, f"lost the container: {error}"))
            return
        self._remove(container)
        if handle.stop_reason is not None:
            on_exit(Exit(code, handle.stop_reason))
        elif oom:
            memory = handle.launch.step.executor.resources.memory
            limit = f" of {memory}" if memory is not None else ""
            on_exit(Exit(code, ExitKind.OOM, f"out of memory: killed at its memory limit{limit}"))
        else:
            on_exit(Exit(code))

    def stop(self, handle: Handle, reason: ExitKind) -> None:
        handle.stop_reason = reason
        if isinstance(handle, ContainerHandle):
            container = handle.container

            def stop() -> None:
                with contextlib.suppress(Exception):
                    container.stop(timeout=int(self.grace))

            threading.Thread(target=stop, daemon=True).start()

    def _remove(self, container: Container) -> None:
        with self._lock:
            self._containers.pop(container.id, None)
        with contextlib.suppress(Exception):
            container.remove(force=True)

    # --------------------------------------------------------------- cleanup
    def close(self) -> None:
        """Remove the run's containers and network (and the tracker unless kept); the data stays."""
        with self._lock:
            containers = list(self._containers.values())
        for container in containers:
            self._remove(container)
        if not self.keep_tracker:
            self._stop_tracker()
        self._sweep()
        if self.keep_tracker and self.tracker is not None:
            self._progress(
                f"the tracker stays up at {self.tracker.host_uri} with its network (label"
                f" scanflow.run={self._state.run_id if self._state else '?'}); `docker rm -f` it when done"
            )
        elif self._network is not None and _remove_network(self._network):
            self._network = None
        if self._folders is not None:
            for name in self._folders.volumes():
                with contextlib.suppress(Exception):
                    self.client.volumes.get(name).remove()
            self._folders = None

    def _stop_tracker(self) -> None:
        if self._tracker_container is not None:
            self._remove(self._tracker_container)
            self._tracker_container = None
        self.tracker = None

    def _sweep(self) -> None:
        """Remove any container still labelled with this run (a job's leftover, a lost handle)."""
        if self._state is None:
            return
        selected = label_filter(run_id=self._state.run_id)
        with contextlib.suppress(Exception):
            for container in self.client.containers.list(all=True, filters={"label": selected}):
                kept = self.keep_tracker and container.labels.get(LABEL_KIND) == "tracker"
                if not kept:
                    with contextlib.suppress(Exception):
                        container.remove(force=True)


def clear_run(client: Any, run_id: str) -> str:
    """Remove every service, container, network and volume labelled with ``run_id``.

    Returns what it removed, e.g. ``"2 container(s)"``, or ``""`` when nothing
    was left. The run's folders on the host stay: volumes only show them.
    """
    from docker.errors import APIError

    selected = {"label": label_filter(run_id=run_id)}
    try:
        services = client.services.list(filters=selected)
    except APIError:  # not a Swarm manager: the run had no services
        services = []
    for service in services:
        with contextlib.suppress(Exception):
            service.remove()
    containers = client.containers.list(all=True, filters=selected)
    for container in containers:
        with contextlib.suppress(Exception):
            container.remove(force=True)
    for volume in client.volumes.list(filters=selected):  # before networks, whose removal may wait
        with contextlib.suppress(Exception):
            volume.remove()
    for network in client.networks.list(filters=selected):
        _remove_network(network)
    counts = {"service": len(services), "container": len(containers)}
    return ", ".join(f"{count} {kind}(s)" for kind, count in counts.items() if count)


def _remove_network(network: Any, timeout: float = 20.0) -> bool:
    """Remove a network, waiting for endpoints of just-removed containers and tasks to go."""
    from docker.errors import APIError, NotFound

    deadline = time.time() + timeout
    while True:
        try:
            network.remove()
            return True
        except NotFound:
            return True
        except APIError:
            if time.time() > deadline:
                return False
            time.sleep(0.3)


def _stream_logs(container: Container, log_path: Path) -> None:
    """Append the container's output to the step's log as it comes (the console tails that file)."""
    with contextlib.suppress(Exception), open(log_path, "ab") as log:
        for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
            log.write(chunk)
            log.flush()
