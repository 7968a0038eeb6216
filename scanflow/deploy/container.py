"""How a deployment runs in a container: the server's arguments, environment and labels.

The docker and swarm deployers start the same thing and differ only in how.
Settings reach the server as ``scanflow serve`` flags and ``SCANFLOW_SERVE_*``
variables, as anywhere else; the token travels as a variable, never as a flag
(flags show in process lists). ``config`` hashes all of it, so deploying what
already runs changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from scanflow.deploy.errors import DeployError
from scanflow.deploy.model_source import ModelToServe
from scanflow.deploy.naming import deployment_labels
from scanflow.deploy.serving_image import ServingImage
from scanflow.home import TRACKING_URI_VARIABLE
from scanflow.serve.config import TOKEN_VARIABLE
from scanflow.spec.deployment import Deployment
from scanflow.track.client_env import container_client

LOG_DB_VARIABLE = "SCANFLOW_SERVE_LOG_DB"


@dataclass(frozen=True)
class ServingContainer:
    image: str
    args: list[str]
    env: dict[str, str]
    labels: dict[str, str]
    config: str  # hash of what is deployed (also in the labels)
    files: dict[str, str] = field(default_factory=dict)  # host path -> read-only path inside


def serving_container(
    name: str,
    deployment: Deployment,
    image: ServingImage,
    model: ModelToServe,
    token: str | None,
    tracking_uri: str,
    workflow: str | None = None,
    placement: tuple[str, ...] = (),
) -> ServingContainer:
    """The container of deployment ``name``; ``placement`` adds what decides where it runs to the hash."""
    args = [image.model_argument, "--workers", str(deployment.workers)]
    for checker in image.checker_arguments:
        args += ["--checker", checker]
    if deployment.follow_every is not None:
        args += ["--follow-every", f"{deployment.follow_every:g}"]
    if deployment.log_keep is not None:
        args += ["--log-keep", str(deployment.log_keep)]
    env = dict(deployment.env)
    if token:
        env[TOKEN_VARIABLE] = token
    if deployment.log_db:
        env[LOG_DB_VARIABLE] = deployment.log_db
    files: dict[str, str] = {}
    if deployment.follow:  # it reads the registry itself, as the user who deploys
        env[TRACKING_URI_VARIABLE] = tracking_uri
        client = container_client()
        env.update(client.environment)
        files = client.read_only_files
    settings = deployment.model_dump(
        mode="json",
        include={"replicas", "port", "host", "resources", "endpoint_mode", "publish_mode", "network"},
    )
    contents = {inside: _digest(Path(host)) for host, inside in files.items()}  # a renewed certificate
    identity = {
        "image": image.tag,
        "args": args,
        "env": env,
        "settings": settings,
        "placement": placement,
        "files": contents,
    }
    config = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    version = "" if deployment.follow else model.version
    labels = deployment_labels(name, deployment.model, version, config, workflow)
    return ServingContainer(image.tag, args, env, labels, config, files)


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise DeployError(f"cannot read {path} ({error.strerror}), named by the tracking settings") from None


def limits(deployment: Deployment) -> tuple[int, int]:
    """Nano-CPUs and bytes of memory each replica may use.

    Unless the deployment says otherwise: a core per worker, and 512 MiB per
    worker plus 512 MiB (a worker serving a scikit-learn model takes ~300 MiB).
    """
    resources = deployment.resources
    cpu = resources.cpu if resources.cpu is not None else float(deployment.workers)
    memory = (
        resources.memory_bytes if resources.memory is not None else (deployment.workers + 1) * 512 * 2**20
    )
    return int(cpu * 1e9), memory
