"""What every workflow export writes for a step: its image, its command, its environment.

Compose, Kubernetes and Argo exports differ in how a cluster starts a step's
container, not in what the container runs. This module decides the latter once,
so a workflow exported to any of them runs the same script that the Swarm test
deploys for real. It also gathers the build contexts the exports write.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from scanflow.graph import Graph, Step
from scanflow.run.build_context import BuildContext
from scanflow.run.container_step import WORKER, code_path, container_paths, function_task
from scanflow.run.docker_engine import slug
from scanflow.run.images import (
    CODE_DIR,
    NODES_DIR,
    PYTHON,
    ImageBuilder,
    code_context,
    default_base_image,
    standalone_context,
    step_dependencies,
)
from scanflow.run.processes import script_arguments
from scanflow.run.workflow_tracker import tracker_requirements
from scanflow.spec.executor import Executor

IMAGES_DIR = "images"  # one build context per image


@dataclass(frozen=True)
class ExportedStep:
    """One step as an export writes it: its image, its environment and the command it runs."""

    step: Step
    name: str  # DNS-safe and unique in the workflow
    image: str
    environment: dict[str, str]
    upstream: list[str]  # names of the steps it waits for
    command: list[str]

    @property
    def executor(self) -> Executor:
        return self.step.executor

    def script(self, wait_for_upstream: bool = True) -> str:
        """What the container runs under ``/bin/sh -c``, ``$`` written ``$$`` (see ``escape_dollars``).

        Swarm and plain Kubernetes start every step at once, so each waits for
        the ``.done`` markers its upstream steps leave in the shared ``nodes``
        volume; Argo orders steps itself and needs no wait.
        """
        me = self.name
        lines = ["set -u"]
        for up in self.upstream if wait_for_upstream else []:
            marker = f"{NODES_DIR}/{up}"
            lines.append(
                f"until [ -f {marker}/.done ]; do if [ -f {marker}/.failed ];"
                f" then echo 'upstream step {up} failed'; exit 1; fi; sleep 1; done"
            )
        lines.append(f"mkdir -p {NODES_DIR}/{me} && rm -f {NODES_DIR}/{me}/.done {NODES_DIR}/{me}/.failed")
        if self.executor.function:
            lines.append(f"printf '%s' \"$SCANFLOW_TASK\" > {NODES_DIR}/{me}/task.json")
        command = self.command
        timeout = self.executor.timeout_seconds
        if timeout is not None:  # the step's own limit, not counting the wait for upstream steps
            command = ["timeout", f"{timeout:g}", *command]
        run = " ".join(shlex.quote(part) for part in command)
        lines.append(
            f"if {run}; then touch {NODES_DIR}/{me}/.done;"
            f" else code=$?; touch {NODES_DIR}/{me}/.failed; exit $code; fi"
        )
        return escape_dollars("\n".join(lines))


class ImageContexts:
    """The build contexts of a workflow's images, one per content tag, as an export writes them."""

    def __init__(self, builder: ImageBuilder, workflow: str) -> None:
        self.builder = builder
        self.workflow = workflow
        self._contexts: dict[str, tuple[BuildContext, str]] = {}  # tag -> (context, folder name)

    def tracker(self) -> str:
        context, tag = self.builder.deps_context(default_base_image(), tracker_requirements())
        self._contexts.setdefault(tag, (context, "tracker"))
        return tag

    def step(self, step: Step, base_dir: Path) -> str:
        executor = step.executor
        if step.deployment is not None:
            raise ValueError(
                f"'{step.key}' is a Deployment: its image holds a model that exists only once the"
                " workflow has run; export the workflow without it and deploy with `scanflow deploy`"
            )
        if executor.image or executor.dockerfile:
            raise ValueError(
                f"step '{step.key}' uses its own image; exports build Scanflow images only"
                " (run it with --backend docker or --backend swarm)"
            )
        base, requirements, constraints = step_dependencies(executor, base_dir)
        deps, deps_tag = self.builder.deps_context(base, requirements, step.key, constraints)
        code, tag = code_context(deps_tag, base_dir, self.workflow)
        if tag not in self._contexts:
            name = f"{slug(self.workflow)}-{len(self._contexts)}"
            self._contexts[tag] = (standalone_context(deps, code), name)
        return tag

    def write(self, folder: Path) -> dict[str, str]:
        """Write every context under ``folder/images``; image tag -> its folder, relative to ``folder``."""
        written = {}
        for tag, (context, name) in self._contexts.items():
            context.write(folder / IMAGES_DIR / name)
            written[tag] = f"{IMAGES_DIR}/{name}"
        return written


def exported_steps(
    graph: Graph, workflow: str, contexts: ImageContexts, tracking_uri: str
) -> list[ExportedStep]:
    """Every step of ``graph``, in the graph's order, logging to the tracker at ``tracking_uri``."""
    steps = []
    for step in graph:
        executor = step.executor
        name = step_name(step)
        node_dir = f"{NODES_DIR}/{name}"
        environment = {
            **executor.env,
            "SCANFLOW_WORKFLOW": workflow,
            "SCANFLOW_NODE": step.key,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_EXPERIMENT_NAME": workflow,
            **container_paths(node_dir),
        }
        if executor.function:
            environment["SCANFLOW_TASK"] = json.dumps(function_task(executor, node_dir))
            command = [PYTHON, "-u", WORKER, "--once", f"{node_dir}/task.json"]
        else:
            command = [PYTHON, f"{CODE_DIR}/{code_path(graph.base_dir, executor.file or '')}"]
            command += script_arguments(executor.parameters)
        upstream = sorted(step_name(graph.steps[key]) for key in step.upstream)
        image = contexts.step(step, graph.base_dir)
        steps.append(ExportedStep(step, name, image, environment, upstream, command))
    return steps


def step_name(step: Step) -> str:
    return slug(step.key)


def escape_dollars(text: str) -> str:
    """``text`` as Compose and Kubernetes pass it on: both read ``$$`` as ``$`` and expand the rest."""
    return text.replace("$", "$$")
