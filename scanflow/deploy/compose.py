"""`scanflow export compose`: a workflow as a Compose project that `docker stack deploy` runs.

The folder holds ``docker-compose.yml`` and one build context per image (its
Dockerfile, the wheels, Scanflow's package and the workflow's code), so it
builds on a machine without network. Images carry the same content tags
``scanflow build`` gives them, so building with either is the same.

Steps are one-shot services (``deploy.mode: replicated-job``) with the
tracker as a long-running service. Swarm starts every job of a stack at once,
so each step waits for the completion markers its upstream steps leave in the
shared ``nodes`` volume (``depends_on`` orders them for ``docker compose``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scanflow.deploy.export_folder import prepare_export_folder
from scanflow.deploy.exported_steps import (
    IMAGES_DIR,
    ExportedStep,
    ImageContexts,
    escape_dollars,
    exported_steps,
)
from scanflow.graph import Graph
from scanflow.run.docker_engine import LABEL_KIND, LABEL_STEP, LABEL_WORKFLOW, tracker_alias
from scanflow.run.images import DATA_DIR, NODES_DIR, ImageBuilder
from scanflow.run.swarm import publishing
from scanflow.run.workflow_tracker import (
    STORE_DIR,
    TRACKER_PORT,
    network_uri,
    server_command,
    server_environment,
)
from scanflow.spec.workflow import Workflow

COMPOSE_FILE = "docker-compose.yml"


@dataclass(frozen=True)
class ComposeOptions:
    """How the tracker is reached; the defaults suit a real cluster (VIP, routing mesh)."""

    tracker_port: int = TRACKER_PORT
    endpoint_mode: str = "vip"
    publish_mode: str = "ingress"

    def __post_init__(self) -> None:
        if not 1 <= self.tracker_port <= 65535:
            raise ValueError(f"the tracker port must be between 1 and 65535, got {self.tracker_port}")
        publishing(self.endpoint_mode, self.publish_mode)  # names a mode that does not exist


@dataclass
class ComposeExport:
    folder: Path
    compose_file: Path
    images: dict[str, str]  # service -> image tag


def export_compose(
    workflow: Workflow, folder: Path, builder: ImageBuilder, options: ComposeOptions | None = None
) -> ComposeExport:
    """Write the Compose project of ``workflow`` into ``folder``."""
    options = options or ComposeOptions()
    graph = Graph.from_workflow(workflow)
    prepare_export_folder(folder, graph.base_dir, (COMPOSE_FILE, IMAGES_DIR), "scanflow export compose")
    contexts = ImageContexts(builder, workflow.name)
    services: dict[str, Any] = {"tracker": _tracker_service(workflow.name, contexts.tracker(), options)}
    for exported in exported_steps(graph, workflow.name, contexts, network_uri(workflow.name)):
        services[exported.name] = _step_service(exported, workflow.name)
    written = contexts.write(folder)
    for service in services.values():
        service["build"] = {"context": f"./{written[service['image']]}"}
    document = {
        "services": services,
        "networks": {"workflow": {"attachable": True, "labels": {LABEL_WORKFLOW: workflow.name}}},
        "volumes": {
            name: {"labels": {LABEL_WORKFLOW: workflow.name, LABEL_KIND: kind}}
            for name, kind in (
                ("data", "run-folder"),
                ("nodes", "run-folder"),
                ("tracker-store", "tracker-store"),
            )
        },
    }
    compose_file = folder / COMPOSE_FILE
    header = f"# Workflow '{workflow.name}', exported by `scanflow export compose`.\n"
    compose_file.write_text(header + yaml.safe_dump(document, sort_keys=False, width=100))
    return ComposeExport(folder, compose_file, {name: service["image"] for name, service in services.items()})


def _tracker_service(workflow: str, image: str, options: ComposeOptions) -> dict[str, Any]:
    return {
        "image": image,
        "command": server_command(),
        "environment": server_environment(workflow),
        "volumes": [f"tracker-store:{STORE_DIR}"],
        "networks": {"workflow": {"aliases": [tracker_alias(workflow)]}},
        "ports": [
            {
                "target": TRACKER_PORT,
                "published": options.tracker_port,
                "protocol": "tcp",
                "mode": options.publish_mode,
            }
        ],
        "labels": {LABEL_WORKFLOW: workflow, LABEL_KIND: "tracker"},
        "deploy": {
            "mode": "replicated",
            "replicas": 1,
            "endpoint_mode": options.endpoint_mode,
            "update_config": {"parallelism": 1, "order": "stop-first", "failure_action": "rollback"},
            "restart_policy": {"condition": "any"},
            "labels": {LABEL_WORKFLOW: workflow, LABEL_KIND: "tracker"},
        },
    }


def _step_service(exported: ExportedStep, workflow: str) -> dict[str, Any]:
    executor = exported.executor
    resources = executor.resources
    labels = {LABEL_WORKFLOW: workflow, LABEL_STEP: exported.step.key, LABEL_KIND: "step"}
    deploy: dict[str, Any] = {
        "mode": "replicated-job",
        "restart_policy": {"condition": "none"},
        "labels": labels,
    }
    limits: dict[str, Any] = {}
    if resources.cpu is not None:
        limits["cpus"] = f"{resources.cpu:g}"
    if resources.memory is not None:
        limits["memory"] = f"{resources.memory_bytes}b"
    if limits:
        deploy["resources"] = {"limits": limits, "reservations": dict(limits)}
    if resources.gpu:
        reservations = deploy.setdefault("resources", {}).setdefault("reservations", {})
        reservations["generic_resources"] = [
            {"discrete_resource_spec": {"kind": "NVIDIA-GPU", "value": resources.gpu}}
        ]
    if executor.placement:
        deploy["placement"] = {"constraints": list(executor.placement)}
    return {
        "image": exported.image,
        "entrypoint": ["/bin/sh", "-c", exported.script()],
        "working_dir": DATA_DIR,
        "environment": {key: escape_dollars(value) for key, value in exported.environment.items()},
        "volumes": [f"data:{DATA_DIR}", f"nodes:{NODES_DIR}"],
        "networks": ["workflow"],
        "labels": dict(labels),
        "deploy": deploy,
        "depends_on": ["tracker", *exported.upstream],  # the list form: `docker stack` reads no other
    }
