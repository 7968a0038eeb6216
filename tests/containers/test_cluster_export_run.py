"""The exported Kubernetes objects run: their images build with the exported script, and their pods work.

No Kubernetes cluster can start here (no registry for its images), so the test
plays the kubelet's part on the Docker engine, as literally as it can: each
pod's container runs with the command, environment (expanded by Kubernetes'
rules), working directory, user and volume mounts the manifest gives it, every
Job at once as Kubernetes starts them, and steps reach the tracker by its
Service's name. What is left untested is Kubernetes itself.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from container_helpers import wait_healthy, write_pipeline
from typer.testing import CliRunner

from scanflow.cli import app

pytestmark = pytest.mark.docker
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def test_exported_jobs_build_and_run_the_workflow_against_the_tracker_service(
    project: Path, docker_client
) -> None:
    exported = CliRunner().invoke(app, ["export", "kubernetes", str(write_pipeline(project)), "-o", "k8s"])
    assert exported.exit_code == 0, exported.output
    folder = project / "k8s"
    built = subprocess.run(["sh", str(folder / "build-images.sh")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]

    objects = [
        doc
        for name in ("tracker.yaml", "jobs.yaml")
        for doc in yaml.safe_load_all((folder / name).read_text())
    ]
    suffix = uuid.uuid4().hex[:8]
    network = docker_client.networks.create(f"scanflow-k8s-{suffix}")
    claims = {
        doc["metadata"]["name"]: f"scanflow-k8s-{suffix}-{doc['metadata']['name']}"
        for doc in objects
        if doc["kind"] == "PersistentVolumeClaim"
    }
    started = []
    try:
        service = next(doc for doc in objects if doc["kind"] == "Service")
        deployment = next(doc for doc in objects if doc["kind"] == "Deployment")
        tracker = _start_pod(
            docker_client,
            deployment["spec"]["template"]["spec"],
            network,
            claims,
            alias=service["metadata"]["name"],
            publish=service["spec"]["ports"][0]["port"],
        )
        started.append(tracker)
        jobs = {doc["metadata"]["name"]: doc for doc in objects if doc["kind"] == "Job"}
        for job in jobs.values():  # all at once, as Kubernetes starts them: steps wait for their upstream
            started.append(_start_pod(docker_client, job["spec"]["template"]["spec"], network, claims))
        exits = {}
        for container in started[1:]:
            exits[container.name] = container.wait(timeout=240)["StatusCode"]
        assert set(exits.values()) == {0}, {c.name: c.logs(tail=20).decode() for c in started[1:]}

        tracker.reload()
        port = tracker.ports["5000/tcp"][0]["HostPort"]
        uri = f"http://127.0.0.1:{port}"
        wait_healthy(uri)
        from mlflow import MlflowClient

        client = MlflowClient(uri)
        runs = client.search_runs([client.get_experiment_by_name("pipe").experiment_id])
        assert [run.data.metrics for run in runs] == [{"count": 5.0}]  # train read make's file, logged
        logs = {c.name: c.logs().decode() for c in started[1:]}
        assert any("doubled 21" in text for text in logs.values())  # the function step, through its task
    finally:
        for container in started:
            container.remove(force=True)
        network.remove()
        for volume in claims.values():
            docker_client.volumes.get(volume).remove(force=True)


def _start_pod(
    client: Any,
    pod: dict[str, Any],
    network: Any,
    claims: dict[str, str],
    alias: str | None = None,
    publish: int | None = None,
) -> Any:
    """Start ``pod``'s one container as the kubelet would, with its claims as Docker volumes."""
    (container,) = pod["containers"]
    environment: dict[str, str] = {}
    for variable in container.get("env", []):  # Kubernetes expands $(VAR) from the variables before it
        environment[variable["name"]] = _expand(variable["value"], environment)
    claim_of = {volume["name"]: volume["persistentVolumeClaim"]["claimName"] for volume in pod["volumes"]}
    volumes = {}
    for mount in container["volumeMounts"]:
        name = claims[claim_of[mount["name"]]]
        client.volumes.create(name)
        volumes[name] = {"bind": mount["mountPath"], "mode": "rw"}
    security = pod["securityContext"]
    created = client.containers.create(
        container["image"],
        entrypoint=[_expand(part, environment) for part in container["command"]],
        environment=environment,
        working_dir=container.get("workingDir"),
        user=f"{security['runAsUser']}:{security['runAsGroup']}",
        group_add=[str(security["fsGroup"])],
        volumes=volumes,
        ports={f"{publish}/tcp": ("127.0.0.1", None)} if publish else None,
    )
    network.connect(created, aliases=[alias] if alias else None)
    created.start()
    return created


def _expand(text: str, environment: dict[str, str]) -> str:
    """Kubernetes' expansion: ``$$`` is ``$``, ``$(NAME)`` a variable defined before (else left as is)."""
    return _REFERENCE.sub(lambda m: "$" if m[0] == "$$" else environment.get(m[1], m[0]), text)
