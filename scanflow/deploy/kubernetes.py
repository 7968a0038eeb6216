"""`scanflow export kubernetes`: a workflow as Kubernetes manifests that `kubectl apply` runs.

The folder holds ``tracker.yaml`` (the workflow's MLflow server: a Deployment,
its Service and a volume claim for its store, applied once and kept), ``jobs.yaml``
(one Job per step, with claims for the run's data and the steps' markers), the
build contexts and ``build-images.sh``. As on Swarm, Kubernetes starts every Job
at once, and each step waits for the markers its upstream steps leave in the
shared ``nodes`` volume, so the same script runs on both.

Objects are made with the Kubernetes client's models, which name every field
Kubernetes knows, and written as plain YAML.
"""

from __future__ import annotations

import re
import stat
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
from scanflow.extras import require
from scanflow.graph import Graph
from scanflow.run.docker_engine import (
    LABEL_KIND,
    LABEL_STEP,
    LABEL_WORKFLOW,
    resource_name,
    slug,
    tracker_alias,
)
from scanflow.run.images import DATA_DIR, NODES_DIR, STEP_USER, ImageBuilder
from scanflow.run.workflow_tracker import (
    STORE_DIR,
    TRACKER_PORT,
    network_uri,
    server_command,
    server_environment,
)
from scanflow.spec.quantities import parse_memory
from scanflow.spec.workflow import Workflow

TRACKER_FILE = "tracker.yaml"
JOBS_FILE = "jobs.yaml"
BUILD_SCRIPT = "build-images.sh"
ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod")
GPU_RESOURCE = "nvidia.com/gpu"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_PLACEMENT = re.compile(r"^\s*node\.(labels\.(?P<label>[^=!\s]+)|hostname)\s*==\s*(?P<value>\S+)\s*$")


@dataclass(frozen=True)
class KubernetesOptions:
    """Where the objects go and how their volumes are claimed; checked before anything is written."""

    namespace: str | None = None  # None: the namespace `kubectl` is set to
    registry: str | None = None  # prefix of every image name, e.g. registry.example.com/team
    storage_class: str | None = None  # None: the cluster's default class
    access_mode: str = "ReadWriteOnce"  # ReadWriteMany lets steps run on several nodes
    data_size: str = "1Gi"
    tracker_size: str = "1Gi"

    def __post_init__(self) -> None:
        if self.namespace is not None and not _DNS_LABEL.match(self.namespace):
            raise ValueError(
                f"namespace '{self.namespace}' is not a Kubernetes name: use lowercase letters, digits"
                " and '-', at most 63 characters"
            )
        if self.access_mode not in ACCESS_MODES:
            raise ValueError(
                f"access mode must be one of {', '.join(ACCESS_MODES)}, got '{self.access_mode}'"
            )
        if self.registry is not None and (not self.registry.strip("/") or re.search(r"\s", self.registry)):
            raise ValueError(
                f"registry '{self.registry}' is not an image name prefix, e.g. registry.example.com/team"
            )
        for what, size in (("data", self.data_size), ("tracker", self.tracker_size)):
            try:
                parse_memory(size)
            except ValueError:
                raise ValueError(f"{what} volume size '{size}' is not a size such as 1Gi or 500Mi") from None

    def image(self, tag: str) -> str:
        return f"{self.registry.strip('/')}/{tag}" if self.registry else tag


@dataclass
class ClusterExport:
    """What a Kubernetes or Argo export wrote."""

    folder: Path
    files: list[Path]
    images: dict[str, str]  # image name -> its build context folder


def export_kubernetes(
    workflow: Workflow, folder: Path, builder: ImageBuilder, options: KubernetesOptions | None = None
) -> ClusterExport:
    """Write ``tracker.yaml``, ``jobs.yaml``, the build contexts and their build script into ``folder``."""
    options = options or KubernetesOptions()
    manifests = KubernetesManifests(workflow, builder, options)
    jobs = [*manifests.run_claims(), *(manifests.job(step) for step in manifests.steps)]
    files = {TRACKER_FILE: manifests.tracker(), JOBS_FILE: jobs}
    command = "scanflow export kubernetes"
    prepare_export_folder(folder, manifests.graph.base_dir, (*files, IMAGES_DIR, BUILD_SCRIPT), command)
    written = [
        write_manifests(folder / name, objects, workflow.name, command) for name, objects in files.items()
    ]
    images = manifests.write_images(folder)
    return ClusterExport(folder, written, images)


class KubernetesManifests:
    """The Kubernetes objects of one workflow; the Argo export reuses its tracker and pod parts."""

    def __init__(self, workflow: Workflow, builder: ImageBuilder, options: KubernetesOptions) -> None:
        self.client = require("kubernetes.client", "k8s", "Kubernetes and Argo exports")
        self.workflow = workflow.name
        self.options = options
        self.graph = Graph.from_workflow(workflow)
        self.contexts = ImageContexts(builder, workflow.name)
        self.tracker_image = options.image(self.contexts.tracker())
        self.steps = exported_steps(self.graph, workflow.name, self.contexts, network_uri(workflow.name))
        # a constraint Kubernetes cannot express is named here, before anything is written
        self.node_selectors = {step.name: placement_selector(step) for step in self.steps}

    # --- the tracker -------------------------------------------------------------------------
    def tracker(self) -> list[Any]:
        """The tracker's claim, Deployment and Service, named as steps reach it: ``tracker-<workflow>``."""
        k8s = self.client
        name = tracker_alias(self.workflow)
        claim = resource_name(self.workflow, "tracker")
        selector = {"app.kubernetes.io/instance": name, LABEL_KIND: "tracker"}
        labels = {**self.labels("tracker"), **selector, "app.kubernetes.io/name": "scanflow-tracker"}
        container = k8s.V1Container(
            name="tracker",
            image=self.tracker_image,
            command=[escape_dollars(part) for part in server_command()],
            env=env_vars(server_environment(self.workflow)),
            ports=[k8s.V1ContainerPort(container_port=TRACKER_PORT, name="http")],
            readiness_probe=k8s.V1Probe(
                http_get=k8s.V1HTTPGetAction(path="/health", port="http"),
                period_seconds=5,
                failure_threshold=3,
            ),
            volume_mounts=[k8s.V1VolumeMount(name="store", mount_path=STORE_DIR)],
            resources=k8s.V1ResourceRequirements(requests={"cpu": "250m", "memory": "512Mi"}),
        )
        pod = k8s.V1PodSpec(
            containers=[container],
            security_context=self.pod_security(),
            volumes=[self.claim_volume("store", claim)],
        )
        deployment = k8s.V1Deployment(
            api_version="apps/v1",
            kind="Deployment",
            metadata=self.metadata(name, labels),
            spec=k8s.V1DeploymentSpec(
                replicas=1,
                strategy=k8s.V1DeploymentStrategy(type="Recreate"),  # one SQLite store, one writer
                selector=k8s.V1LabelSelector(match_labels=selector),
                template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels), spec=pod),
            ),
        )
        service = k8s.V1Service(
            api_version="v1",
            kind="Service",
            metadata=self.metadata(name, labels),
            spec=k8s.V1ServiceSpec(
                selector=selector,
                ports=[k8s.V1ServicePort(name="http", port=TRACKER_PORT, target_port="http")],
            ),
        )
        return [self.claim(claim, self.options.tracker_size, "tracker-store"), deployment, service]

    # --- the run's steps ---------------------------------------------------------------------
    def run_claims(self) -> list[Any]:
        """The claims of the run's data and the steps' markers (deleted with the Jobs, for a clean rerun)."""
        return [self.run_claim(resource_name(self.workflow, folder)) for folder in ("data", "nodes")]

    def run_claim(self, name: str) -> Any:
        return self.claim(name, self.options.data_size, "run-folder")

    def job(self, step: ExportedStep) -> Any:
        k8s = self.client
        labels = self.step_labels(step)
        pod = k8s.V1PodSpec(
            restart_policy="Never",
            containers=[self.step_container(step)],
            security_context=self.pod_security(),
            node_selector=self.node_selectors[step.name] or None,
            volumes=[
                self.claim_volume("data", resource_name(self.workflow, "data")),
                self.claim_volume("nodes", resource_name(self.workflow, "nodes")),
            ],
        )
        return k8s.V1Job(
            api_version="batch/v1",
            kind="Job",
            metadata=self.metadata(resource_name(self.workflow, step.name), labels),
            spec=k8s.V1JobSpec(
                backoff_limit=step.executor.retries,
                template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels), spec=pod),
            ),
        )

    def step_container(self, step: ExportedStep, wait_for_upstream: bool = True) -> Any:
        """The container of ``step``'s pod: the same script and environment as on Swarm."""
        k8s = self.client
        return k8s.V1Container(
            name="step",
            image=self.options.image(step.image),
            image_pull_policy="IfNotPresent",  # content tags: a tag never names other content
            command=["/bin/sh", "-c", step.script(wait_for_upstream)],
            working_dir=DATA_DIR,
            env=env_vars(step.environment),
            resources=self.step_resources(step),
            volume_mounts=[
                k8s.V1VolumeMount(name="data", mount_path=DATA_DIR),
                k8s.V1VolumeMount(name="nodes", mount_path=NODES_DIR),
            ],
        )

    def step_resources(self, step: ExportedStep) -> Any:
        """Requests and limits alike, as on Swarm: a step gets what it asked for, no more."""
        resources = step.executor.resources
        wanted: dict[str, str] = {}
        if resources.cpu is not None:
            wanted["cpu"] = f"{resources.cpu:g}"
        if resources.memory is not None:
            wanted["memory"] = quantity(resources.memory_bytes)
        limits = dict(wanted)
        if resources.gpu:
            limits[GPU_RESOURCE] = str(resources.gpu)  # extended resources are set as limits
        if not limits:
            return None
        return self.client.V1ResourceRequirements(requests=wanted or None, limits=limits)

    def step_labels(self, step: ExportedStep) -> dict[str, str]:
        return {**self.labels("step"), LABEL_STEP: label_value(step.step.key)}

    # --- shared parts ------------------------------------------------------------------------
    def labels(self, kind: str) -> dict[str, str]:
        return {
            "app.kubernetes.io/part-of": "scanflow",
            LABEL_WORKFLOW: label_value(self.workflow),
            LABEL_KIND: kind,
        }

    def metadata(self, name: str, labels: dict[str, str]) -> Any:
        return self.client.V1ObjectMeta(name=name, namespace=self.options.namespace, labels=labels)

    def pod_security(self) -> Any:
        """The images' user owns nothing on a fresh volume; fsGroup makes the volumes its group's."""
        uid, gid = (int(part) for part in STEP_USER.split(":"))
        return self.client.V1PodSecurityContext(run_as_user=uid, run_as_group=gid, fs_group=gid)

    def claim(self, name: str, size: str, kind: str) -> Any:
        k8s = self.client
        storage = {"storage": quantity(parse_memory(size))}
        return k8s.V1PersistentVolumeClaim(
            api_version="v1",
            kind="PersistentVolumeClaim",
            metadata=self.metadata(name, self.labels(kind)),
            spec=k8s.V1PersistentVolumeClaimSpec(
                access_modes=[self.options.access_mode],
                storage_class_name=self.options.storage_class,
                resources=k8s.V1VolumeResourceRequirements(requests=storage),
            ),
        )

    def claim_volume(self, name: str, claim: str) -> Any:
        k8s = self.client
        return k8s.V1Volume(
            name=name, persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=claim)
        )

    def write_images(self, folder: Path) -> dict[str, str]:
        """Write the build contexts and ``build-images.sh``; image name -> its context folder."""
        images = {self.options.image(tag): context for tag, context in self.contexts.write(folder).items()}
        write_build_script(folder / BUILD_SCRIPT, images, push=self.options.registry is not None)
        return images


def env_vars(environment: dict[str, str]) -> list[Any]:
    from kubernetes.client import V1EnvVar

    return [V1EnvVar(name=key, value=escape_dollars(value)) for key, value in environment.items()]


def placement_selector(step: ExportedStep) -> dict[str, str]:
    """Swarm-style placement (``node.labels.KEY==VALUE``, ``node.hostname==NAME``) as a node selector."""
    selector = {}
    for constraint in step.executor.placement:
        match = _PLACEMENT.match(constraint)
        if match is None:
            raise ValueError(
                f"step '{step.step.key}': placement '{constraint}' has no Kubernetes form; exports take"
                " node.labels.KEY==VALUE and node.hostname==NAME"
            )
        key = match["label"] or "kubernetes.io/hostname"
        selector[key] = match["value"]
    return selector


def label_value(text: str) -> str:
    """``text`` as a label value: kept when Kubernetes takes it, else its slug (at most 63 characters)."""
    return text if _LABEL_VALUE.match(text) else slug(text)[:63].strip("-")


def quantity(size: int) -> str:
    """Bytes as Kubernetes writes them: whole Gi or Mi when they are, else plain bytes."""
    for unit, factor in (("Gi", 1 << 30), ("Mi", 1 << 20)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def write_manifests(path: Path, objects: list[Any], workflow: str, command: str) -> Path:
    """Write ``objects`` as one multi-document YAML file, without the client's empty fields."""
    from kubernetes.client import ApiClient

    documents = [ApiClient().sanitize_for_serialization(obj) for obj in objects]
    header = f"# Workflow '{workflow}', exported by `{command}`.\n"
    body = yaml.dump_all(documents, Dumper=_ScriptDumper, sort_keys=False, width=100)
    path.write_text(header + body)
    return path


class _ScriptDumper(yaml.SafeDumper):
    """Writes a multi-line string (a step's script) as a literal block, line for line."""


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ScriptDumper.add_representer(str, _string)


def write_build_script(path: Path, images: dict[str, str], push: bool) -> None:
    """A script building every image from its context (wheels inside: no network), pushing when asked."""
    lines = [
        "#!/bin/sh",
        "# Builds the images the manifests name" + (" and pushes them to the registry." if push else "."),
        "# Every context holds its wheels: the build needs no network. Run it where Docker runs.",
        "set -eu",
        'cd "$(dirname "$0")"',
    ]
    for image, context in images.items():
        lines.append(f"docker build -t {image} {context}")
        if push:
            lines.append(f"docker push {image}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
