"""A Deployment node in a run: deployed from the host, tracked like any step, left running after it.

The runner wraps the run's backend: executor steps go to it as always, and
Deployment steps are deployed from this machine on a thread of their own
(they talk to the Docker engine or start a local server, which a container
step could not). A Deployment's backend defaults to the run's: a local run
starts a background ``scanflow serve``, a docker run a container, a swarm run
a service. The step succeeds once the service answers ``/ready``; its MLflow
run gets the endpoint, image and replicas as tags, and the service keeps
running when the workflow ends (``scanflow deploy rm NAME`` stops it).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanflow.deploy.errors import DeployCancelled
from scanflow.errors import first_line
from scanflow.graph import Step
from scanflow.home import Home
from scanflow.log import TRACKING_FILE
from scanflow.run.backend import Backend, Exit, ExitCallback, ExitKind, Handle, Launch, Progress

if TYPE_CHECKING:
    from scanflow.run.state import RunState

DEPLOYMENT_ENV = "deployment"  # the "environment id" of a deployment step (it builds no environment)


class DeploymentHandle(Handle):
    def __init__(self, launch: Launch):
        super().__init__(launch)
        self.cancelled = threading.Event()


class DeployingBackend(Backend):
    """The run's backend, with Deployment steps taken out of its hands."""

    def __init__(self, inner: Backend, home: Home):
        self.inner = inner
        self.home = home
        self.name = inner.name
        self.capacity = inner.capacity
        self._tracking_uri: str | None = None
        self._workflow: str | None = None

    def __getattr__(self, attribute: str) -> Any:  # what tests and callers read of the inner backend
        return getattr(self.inner, attribute)

    def open_run(self, state: RunState, tracking_uri: str | None, progress: Progress) -> str | None:
        self._workflow = state.workflow
        replaced = self.inner.open_run(state, tracking_uri, progress)
        self._tracking_uri = replaced or tracking_uri
        return replaced

    def check_capacity(self, steps: list[Step]) -> None:
        self.inner.check_capacity([s for s in steps if s.deployment is None])

    def prepare(self, steps: list[Step], base_dir: Path, progress: Progress) -> dict[str, str]:
        hashes = self.inner.prepare([s for s in steps if s.deployment is None], base_dir, progress)
        return {**hashes, **{s.key: DEPLOYMENT_ENV for s in steps if s.deployment is not None}}

    def start(self, launch: Launch, on_exit: ExitCallback) -> Handle:
        if launch.step.deployment is None:
            return self.inner.start(launch, on_exit)
        handle = DeploymentHandle(launch)
        thread = threading.Thread(
            target=self._deploy, args=(handle, on_exit), name=f"deploy-{launch.step.key}", daemon=True
        )
        thread.start()
        return handle

    def _deploy(self, handle: DeploymentHandle, on_exit: ExitCallback) -> None:
        from scanflow.deploy.deployments import BACKENDS, deploy

        launch = handle.launch
        deployment = launch.step.deployment
        assert deployment is not None
        with open(launch.log_path, "a") as log:

            def progress(message: str) -> None:
                log.write(f"{message}\n")
                log.flush()

            try:
                status = deploy(
                    deployment,
                    tracking_uri=launch.env.get("MLFLOW_TRACKING_URI") or self._tracking_uri,
                    home=self.home.root,
                    base_dir=launch.base_dir,
                    workflow=self._workflow,
                    default_backend=self.name if self.name in BACKENDS else "local",
                    progress=progress,
                    cancelled=handle.cancelled,
                )
            except DeployCancelled as error:
                progress(str(error))
                on_exit(Exit(None, handle.stop_reason or ExitKind.CANCELLED, str(error)))
                return
            except Exception as error:
                progress(f"error: {error}")
                on_exit(Exit(None, ExitKind.ERROR, first_line(error)))
                return
            where = ", ".join(status.urls) or "(no published endpoint)"
            progress(f"deployed '{status.name}' ({status.backend}, {status.replicas} ready) at {where}")
            progress(f"stop it with: scanflow deploy rm {status.name} --backend {status.backend}")
        _record_tags(
            launch.node_dir,
            {
                "scanflow.deploy.name": status.name,
                "scanflow.deploy.backend": status.backend,
                "scanflow.deploy.url": status.url,
                "scanflow.deploy.urls": " ".join(status.urls),
                "scanflow.deploy.image": status.image,
                "scanflow.deploy.replicas": status.replicas.rpartition("/")[2],
                "scanflow.deploy.model_version": status.version,
            },
        )
        on_exit(Exit(0))

    def stop(self, handle: Handle, reason: ExitKind) -> None:
        if isinstance(handle, DeploymentHandle):
            handle.stop_reason = reason
            handle.cancelled.set()  # a deployment not yet answering is undone
            return
        self.inner.stop(handle, reason)

    def close(self) -> None:
        self.inner.close()


def _record_tags(node_dir: Path, tags: dict[str, str]) -> None:
    """Tags for the step's MLflow run, written as a step's own ``scanflow.set_tag`` calls are."""
    with open(node_dir / TRACKING_FILE, "a") as handle:
        for key, value in tags.items():
            if value:
                handle.write(json.dumps({"type": "tag", "key": key, "value": value}) + "\n")


def deploy_node(**parameters: Any) -> None:
    """What a Deployment step names as its function: only the runner deploys it, from the host."""
    raise RuntimeError(
        f"a Deployment node ({parameters.get('model')}) is deployed by `scanflow run` from the host,"
        " not as a function step; run the workflow with scanflow run or Workflow.run()"
    )
