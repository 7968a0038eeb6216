"""The Docker engine as Scanflow sees it: one checked client, and the names and labels it gives.

Everything Scanflow creates (images, networks, volumes, containers, services)
carries ``scanflow.workflow`` and, when it belongs to one run, ``scanflow.run``,
so cleaning up touches only what Scanflow made. Names include the run id, so
two runs of the same workflow side by side never collide.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import TYPE_CHECKING

from scanflow.errors import first_line
from scanflow.run.backend import BackendError

if TYPE_CHECKING:
    from docker import DockerClient

LABEL_WORKFLOW = "scanflow.workflow"
LABEL_RUN = "scanflow.run"
LABEL_KIND = "scanflow.kind"  # "step", "tracker", "deps", "network", "data"...
LABEL_STEP = "scanflow.step"
DOCKER_EXTRA_HINT = "pip install 'scanflow[docker]'"
_MAX_NAME = 63  # Swarm service names and DNS labels


def connect(timeout: int = 120) -> DockerClient:
    """A client of the engine that DOCKER_HOST (or the default socket) names, checked to answer."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise BackendError(f"the Docker backends need the Docker SDK: {DOCKER_EXTRA_HINT}") from None
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as error:
        raise BackendError(
            f"cannot reach the Docker engine at {where} ({_reason(error)}). Start Docker"
            " (Docker Desktop, `systemctl start docker` or `dockerd`) or point DOCKER_HOST at a"
            " running engine; nothing was started."
        ) from None
    return client


def _reason(error: Exception) -> str:
    text = str(error)
    for marker in ("Connection refused", "No such file or directory", "Name or service not known"):
        if marker in text:
            return marker.lower()
    return first_line(error)[:200]


def slug(text: str) -> str:
    """A DNS-safe form of a name: lowercase letters, digits and dashes."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return cleaned or "x"


def resource_name(*parts: str, limit: int = _MAX_NAME) -> str:
    """``scanflow-<parts>``, DNS-safe; too long names keep a hash of the whole so they stay unique."""
    name = "-".join(["scanflow", *(slug(p) for p in parts)])
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def tracker_alias(workflow: str) -> str:
    """The host name steps use for their workflow's tracker (``tracker-<workflow>``)."""
    return f"tracker-{slug(workflow)}"[:_MAX_NAME]


def labels(workflow: str, run_id: str | None = None, kind: str | None = None, **extra: str) -> dict[str, str]:
    found = {LABEL_WORKFLOW: workflow}
    if run_id is not None:
        found[LABEL_RUN] = run_id
    if kind is not None:
        found[LABEL_KIND] = kind
    found.update({f"scanflow.{k}": v for k, v in extra.items()})
    return found


def label_filter(workflow: str | None = None, run_id: str | None = None) -> list[str]:
    """Docker ``label=`` filters selecting what Scanflow made (for a workflow, a run)."""
    selected = [LABEL_WORKFLOW if workflow is None else f"{LABEL_WORKFLOW}={workflow}"]
    if run_id is not None:
        selected.append(f"{LABEL_RUN}={run_id}")
    return selected
