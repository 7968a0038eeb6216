"""How one attempt of a step looks inside a container: its command, environment, user and mounts.

Both container backends (a plain engine and Swarm) start the same thing; only
the way they start it differs. Host paths the scheduler hands out become
container paths here: the data directory is ``/data`` (the working directory),
the step's private folder ``/scanflow/nodes/<step>``, the workflow folder ``/app``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanflow.run.backend import BackendError, Launch
from scanflow.run.build_context import scanflow_package
from scanflow.run.images import CODE_DIR, DATA_DIR, NODES_DIR, PACKAGE_DIR, StepImage
from scanflow.run.processes import script_arguments
from scanflow.spec.executor import Executor
from scanflow.track.client_env import container_client

STEP_UID = 10001
WORKER = f"{PACKAGE_DIR}/scanflow/run/function_worker.py"
BIND_OPTIONS = {"type": "none", "o": "bind"}


@dataclass(frozen=True)
class RunFolders:
    """The run's host folders that containers share, and the volume names that hold them."""

    data_volume: str
    nodes_volume: str
    data_dir: Path
    nodes_dir: Path

    def volumes(self) -> dict[str, tuple[Path, str]]:
        """volume name -> (host folder, mount point)."""
        return {self.data_volume: (self.data_dir, DATA_DIR), self.nodes_volume: (self.nodes_dir, NODES_DIR)}


@dataclass
class ContainerStep:
    command: list[str]
    environment: dict[str, str]
    user: str | None = None  # None: the image's own user
    read_only_binds: dict[str, str] = field(default_factory=dict)  # host path -> container path


def container_step(launch: Launch, image: StepImage, tracking_uri: str | None) -> ContainerStep:
    """The container form of ``launch``; ``tracking_uri`` is the tracker as containers reach it."""
    executor = launch.step.executor
    node_dir = f"{NODES_DIR}/{launch.node_dir.name}"
    environment = {**executor.env, **launch.env, **container_paths(node_dir)}
    binds: dict[str, str] = {}
    if "MLFLOW_TRACKING_URI" in environment:
        if tracking_uri is not None:  # the workflow's own tracker, open on the run's network
            environment["MLFLOW_TRACKING_URI"] = tracking_uri
        else:  # the user's server, reached as it is: as the user, with the user's certificates
            client = container_client()
            environment.update(client.environment)
            binds.update(client.read_only_files)
    if image.code_mounted:
        binds[str(launch.base_dir)] = CODE_DIR
        binds[str(scanflow_package())] = f"{PACKAGE_DIR}/scanflow"
        environment.setdefault("PYTHONPATH", PACKAGE_DIR)
    user = host_user()
    if user is not None:
        environment["HOME"] = "/tmp"  # the image's home belongs to its own user
    elif not image.code_mounted:
        hand_over(launch.data_dir, launch.node_dir)
    if executor.function:
        (launch.node_dir / "task.json").write_text(json.dumps(function_task(executor, node_dir)))
        command = [image.python, "-u", WORKER, "--once", f"{node_dir}/task.json"]
    elif executor.file:
        command = [image.python, f"{CODE_DIR}/{code_path(launch.base_dir, executor.file)}"]
        command += script_arguments(executor.parameters)
    else:  # a ready image run as it is, parameters as its arguments
        command = script_arguments(executor.parameters)
    return ContainerStep(command, environment, user, binds)


def container_paths(node_dir: str) -> dict[str, str]:
    """The variables that tell a step where things are inside its container."""
    return {
        "SCANFLOW_DATA_DIR": DATA_DIR,
        "SCANFLOW_NODE_DIR": node_dir,
        "SCANFLOW_WORKFLOW_DIR": CODE_DIR,
        "PYTHONUNBUFFERED": "1",
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # the tracker's URL means nothing outside
        "GIT_PYTHON_REFRESH": "quiet",  # images have no git; MLflow would warn about it in every step
    }


def function_task(executor: Executor, node_dir: str) -> dict[str, Any]:
    """The function worker's task for a function step; the container's environment is kept."""
    return {
        "function": executor.function,
        "parameters": executor.parameters,
        "env": {},
        "inherit_env": True,
        "cwd": DATA_DIR,
        "sys_path": [CODE_DIR],
        "result_path": f"{node_dir}/result.json",
    }


def code_path(base_dir: Path, file: str) -> str:
    """A script's path inside the workflow folder (the only code an image holds)."""
    path = Path(file)
    resolved = (path if path.is_absolute() else base_dir / path).resolve()
    try:
        return resolved.relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        raise BackendError(
            f"script '{file}' is outside the workflow folder {base_dir}; container backends copy only"
            " that folder into images: move the script into it"
        ) from None


def host_user() -> str | None:
    """Run steps as the host user when it is not root, so files they write stay the user's own."""
    uid = os.getuid()
    return None if uid == 0 else f"{uid}:{os.getgid()}"


def hand_over(*folders: Path) -> None:
    """Under root, give the shared folders to the images' non-root user so steps can write."""
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        if folder.stat().st_uid != STEP_UID:
            os.chown(folder, STEP_UID, STEP_UID)
