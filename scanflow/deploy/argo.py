"""`scanflow export argo`: a workflow as an Argo Workflow that `argo submit` runs.

The folder holds ``tracker.yaml`` (the same tracker as the Kubernetes export:
apply it once, it keeps every run), ``workflow.yaml`` (an Argo Workflow whose
DAG has one container task per step) and the build contexts with their build
script. Argo orders the steps itself, so a step waits for nothing: it starts
when its upstream tasks succeeded, and a failed step stops what depends on it.
Each run gets its own data volume (a volume claim template Argo removes with
the run); models and metrics stay in the tracker.

The document is checked against Argo's own models (Hera's, generated from
Argo's API) before it is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scanflow.deploy.export_folder import prepare_export_folder
from scanflow.deploy.exported_steps import IMAGES_DIR, ExportedStep
from scanflow.deploy.kubernetes import (
    BUILD_SCRIPT,
    TRACKER_FILE,
    ClusterExport,
    KubernetesManifests,
    KubernetesOptions,
    write_manifests,
)
from scanflow.extras import require
from scanflow.run.docker_engine import slug
from scanflow.run.images import ImageBuilder
from scanflow.spec.workflow import Workflow

WORKFLOW_FILE = "workflow.yaml"
ENTRYPOINT = "main"  # the DAG template; step templates are named after their steps
ARGO_API_VERSION = "argoproj.io/v1alpha1"


def export_argo(
    workflow: Workflow, folder: Path, builder: ImageBuilder, options: KubernetesOptions | None = None
) -> ClusterExport:
    """Write ``tracker.yaml``, ``workflow.yaml``, the build contexts and build script into ``folder``."""
    options = options or KubernetesOptions()
    manifests = KubernetesManifests(workflow, builder, options)
    document = argo_workflow(manifests)
    command = "scanflow export argo"
    written = (TRACKER_FILE, WORKFLOW_FILE, IMAGES_DIR, BUILD_SCRIPT)
    prepare_export_folder(folder, manifests.graph.base_dir, written, command)
    files = [
        write_manifests(folder / TRACKER_FILE, manifests.tracker(), workflow.name, command),
        write_manifests(folder / WORKFLOW_FILE, [document], workflow.name, command),
    ]
    return ClusterExport(folder, files, manifests.write_images(folder))


def argo_workflow(manifests: KubernetesManifests) -> dict[str, Any]:
    """The Argo Workflow of ``manifests``' steps, as the plain data ``argo submit`` reads."""
    from kubernetes.client import ApiClient

    models = require("hera.workflows.models", "k8s", "the Argo export")
    plain = ApiClient().sanitize_for_serialization
    options = manifests.options
    data_claim = plain(manifests.run_claim("data"))  # a claim template: made anew for each run
    data_claim["metadata"].pop("namespace", None)  # a claim template takes the workflow's
    tasks = [
        {
            "name": step.name,
            "template": step.name,
            **({"dependencies": step.upstream} if step.upstream else {}),
        }
        for step in manifests.steps
    ]
    document = {
        "apiVersion": ARGO_API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "generateName": f"{slug(manifests.workflow)}-",
            "namespace": options.namespace,
            "labels": manifests.labels("workflow"),
        },
        "spec": {
            "entrypoint": ENTRYPOINT,
            "securityContext": plain(manifests.pod_security()),
            "volumeClaimTemplates": [data_claim],
            "volumes": [{"name": "nodes", "emptyDir": {}}],  # each step's own folder: no markers to share
            "templates": [
                {"name": ENTRYPOINT, "dag": {"tasks": tasks}},
                *(_step_template(manifests, step, plain) for step in manifests.steps),
            ],
        },
    }
    if options.namespace is None:
        del document["metadata"]["namespace"]
    checked = models.Workflow.model_validate(document)  # a field Argo does not know fails here
    return checked.model_dump(by_alias=True, exclude_none=True, mode="json")


def _step_template(manifests: KubernetesManifests, step: ExportedStep, plain: Any) -> dict[str, Any]:
    executor = step.executor
    container = plain(manifests.step_container(step, wait_for_upstream=False))
    container["name"] = "main"  # Argo's name for a template's own container
    if "{{" in json.dumps(container):
        raise ValueError(
            f"step '{step.step.key}': its parameters or environment hold '{{{{', which Argo reads as"
            " its own template syntax and would fail to resolve; write it another way for Argo"
        )
    template: dict[str, Any] = {
        "name": step.name,
        "metadata": {"labels": manifests.step_labels(step)},
        "container": container,
    }
    if executor.retries:
        backoff = {"duration": f"{executor.retry_delay:g}s", "factor": 2}
        template["retryStrategy"] = {"limit": executor.retries, "retryPolicy": "Always", "backoff": backoff}
    selector = manifests.node_selectors[step.name]
    if selector:
        template["nodeSelector"] = selector
    return template
