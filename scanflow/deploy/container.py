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
import os
from dataclasses import dataclass

from scanflow.deploy.model_source import ModelToServe
from scanflow.deploy.naming import deployment_labels
from scanflow.deploy.serving_image import ServingImage
from scanflow.home import TRACKING_URI_VARIABLE
from scanflow.serve.config import TOKEN_VARIABLE
from scanflow.spec.deployment import Deployment

LOG_DB_VARIABLE = "SCANFLOW_SERVE_LOG_DB"
# How a client authenticates to an MLflow server; a following service needs the same.
_TRACKER_CREDENTIALS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@dataclass(frozen=True)
class ServingContainer:
    image: str
    args: list[str]
    env: dict[str, str]
    labels: dict[str, str]
    config: str  # hash of what is deployed (also in the labels)


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
    if deployment.follow:
        env[TRACKING_URI_VARIABLE] = tracking_uri
        env.update({k: os.environ[k] for k in _TRACKER_CREDENTIALS if os.environ.get(k)})
    settings = deployment.model_dump(
        mode="json",
        include={"replicas", "port", "host", "resources", "endpoint_mode", "publish_mode", "network"},
    )
    identity = {"image": image.tag, "args": args, "env": env, "settings": settings, "placement": placement}
    config = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    version = "" if deployment.follow else model.version
    labels = deployment_labels(name, deployment.model, version, config, workflow)
    return ServingContainer(image.tag, args, env, labels, config)


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
