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

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scanflow.deploy.export_folder import prepare_export_folder
from scanflow.graph import Graph, Step
from scanflow.run.build_context import BuildContext
from scanflow.run.container_step import WORKER, code_path, container_paths, function_task
from scanflow.run.docker_engine import LABEL_KIND, LABEL_STEP, LABEL_WORKFLOW, slug, tracker_alias
from scanflow.run.images import (
    CODE_DIR,
    DATA_DIR,
    NODES_DIR,
    PYTHON,
    ImageBuilder,
    code_context,
    default_base_image,
    standalone_context,
    step_dependencies,
)
from scanflow.run.processes import script_arguments
from scanflow.run.swarm import publishing
from scanflow.run.workflow_tracker import (
    STORE_DIR,
    TRACKER_PORT,
    network_uri,
    server_command,
    server_environment,
    tracker_requirements,
)
from scanflow.spec.workflow import Workflow

COMPOSE_FILE = "docker-compose.yml"
IMAGES_DIR = "images"  # one build context per image


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
    contexts: dict[str, tuple[BuildContext, str]] = {}  # image tag -> (context, folder name)
    images: dict[str, str] = {}
    services: dict[str, Any] = {}

    tracker_deps, tracker_tag = builder.deps_context(default_base_image(), tracker_requirements())
    contexts[tracker_tag] = (tracker_deps, "tracker")
    images["tracker"] = tracker_tag
    services["tracker"] = _tracker_service(workflow.name, tracker_tag, options)

    for step in graph:
        service = _service_name(step)
        image = _step_image(step, graph.base_dir, workflow.name, builder, contexts)
        images[service] = image
        services[service] = _step_service(step, graph, workflow.name, image)

    for tag, (context, name) in contexts.items():
        context.write(folder / IMAGES_DIR / name)
        for service, image in images.items():
            if image == tag:
                services[service]["build"] = {"context": f"./{IMAGES_DIR}/{name}"}
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
    return ComposeExport(folder, compose_file, images)


def _service_name(step: Step) -> str:
    return slug(step.key)


def _step_image(
    step: Step,
    base_dir: Path,
    workflow: str,
    builder: ImageBuilder,
    contexts: dict[str, tuple[BuildContext, str]],
) -> str:
    executor = step.executor
    if step.deployment is not None:
        raise ValueError(
            f"'{step.key}' is a Deployment: its image holds a model that exists only once the workflow"
            " has run; export the workflow without it and deploy with `scanflow deploy`"
        )
    if executor.image or executor.dockerfile:
        raise ValueError(
            f"step '{step.key}' uses its own image; the Compose export builds Scanflow images only"
            " (run it with --backend docker or --backend swarm)"
        )
    base, requirements, constraints = step_dependencies(executor, base_dir)
    deps, deps_tag = builder.deps_context(base, requirements, step.key, constraints)
    code, tag = code_context(deps_tag, base_dir, workflow)
    if tag not in contexts:
        contexts[tag] = (standalone_context(deps, code), f"{slug(workflow)}-{len(contexts)}")
    return tag


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


def _step_service(step: Step, graph: Graph, workflow: str, image: str) -> dict[str, Any]:
    executor = step.executor
    me = _service_name(step)
    upstream = sorted(_service_name(graph.steps[key]) for key in step.upstream)
    node_dir = f"{NODES_DIR}/{me}"
    environment = {
        **executor.env,
        "SCANFLOW_WORKFLOW": workflow,
        "SCANFLOW_NODE": step.key,
        "MLFLOW_TRACKING_URI": network_uri(workflow),
        "MLFLOW_EXPERIMENT_NAME": workflow,
        **container_paths(node_dir),
    }
    if executor.function:
        environment["SCANFLOW_TASK"] = json.dumps(function_task(executor, node_dir))
        command = [PYTHON, "-u", WORKER, "--once", f"{NODES_DIR}/{me}/task.json"]
    else:
        command = [PYTHON, f"{CODE_DIR}/{code_path(graph.base_dir, executor.file or '')}"]
        command += script_arguments(executor.parameters)
    resources = executor.resources
    deploy: dict[str, Any] = {
        "mode": "replicated-job",
        "restart_policy": {"condition": "none"},
        "labels": {LABEL_WORKFLOW: workflow, LABEL_STEP: step.key, LABEL_KIND: "step"},
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
    service: dict[str, Any] = {
        "image": image,
        "entrypoint": ["/bin/sh", "-c", _waiting_script(me, upstream, command, bool(executor.function))],
        "working_dir": DATA_DIR,
        "environment": environment,
        "volumes": [f"data:{DATA_DIR}", f"nodes:{NODES_DIR}"],
        "networks": ["workflow"],
        "labels": {LABEL_WORKFLOW: workflow, LABEL_STEP: step.key, LABEL_KIND: "step"},
        "deploy": deploy,
        "depends_on": ["tracker", *upstream],  # the list form: `docker stack` reads no other
    }
    return service


def _waiting_script(me: str, upstream: list[str], command: list[str], function: bool) -> str:
    """Wait for upstream markers, run the step, leave this step's marker (``$$`` escapes Compose)."""
    lines = ["set -u"]
    for up in upstream:
        marker = f"{NODES_DIR}/{up}"
        lines.append(
            f"until [ -f {marker}/.done ]; do"
            f" if [ -f {marker}/.failed ]; then echo 'upstream step {up} failed'; exit 1; fi; sleep 1; done"
        )
    lines.append(f"mkdir -p {NODES_DIR}/{me} && rm -f {NODES_DIR}/{me}/.done {NODES_DIR}/{me}/.failed")
    if function:
        lines.append(f"printf '%s' \"$$SCANFLOW_TASK\" > {NODES_DIR}/{me}/task.json")
    run = " ".join(shlex.quote(part) for part in command).replace("$", "$$")
    lines.append(
        f"if {run}; then touch {NODES_DIR}/{me}/.done;"
        f" else code=$$?; touch {NODES_DIR}/{me}/.failed; exit $$code; fi"
    )
    return "\n".join(lines)
