"""`scanflow export compose`: a valid Compose file that `docker stack deploy` runs to the end."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import yaml
from container_helpers import wait_healthy
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.run.images import build_images
from scanflow.spec import Workflow

pytestmark = pytest.mark.docker
STACK = "scanflowtest"


def test_exported_stack_deploys_and_runs_the_workflow(swarm_manager, pipeline, project):
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is needed for `docker stack deploy`")
    exported = CliRunner().invoke(
        app,
        [
            "export",
            "compose",
            str(pipeline),
            "-o",
            "stack",
            "--endpoint-mode",
            "dnsrr",
            "--publish-mode",
            "host",
            "--tracker-port",
            "15789",
        ],
    )
    assert exported.exit_code == 0, exported.output
    compose = project / "stack" / "docker-compose.yml"
    document = yaml.safe_load(compose.read_text())
    assert set(document["services"]) == {"tracker", "make", "train", "double"}
    assert document["services"]["train"]["deploy"]["mode"] == "replicated-job"
    assert document["services"]["tracker"]["deploy"]["replicas"] == 1
    assert (project / "stack" / "images").is_dir()
    checked = subprocess.run(
        ["docker", "stack", "config", "-c", str(compose)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr  # the CLI validates against the Compose schema

    build_images(Workflow.from_yaml(pipeline), lambda _: None)  # the tags the file names
    _remove_stack()
    deployed = subprocess.run(
        ["docker", "stack", "deploy", "-c", str(compose), STACK], capture_output=True, text=True
    )
    try:
        assert deployed.returncode == 0, deployed.stderr
        finished = _wait_for_jobs(swarm_manager, ["make", "train", "double"])
        assert finished == {"make": "complete", "train": "complete", "double": "complete"}
        wait_healthy("http://127.0.0.1:15789")
        from mlflow import MlflowClient

        client = MlflowClient("http://127.0.0.1:15789")
        experiment = client.get_experiment_by_name("pipe")
        runs = client.search_runs([experiment.experiment_id])
        assert [r.data.metrics for r in runs] == [{"count": 5.0}]  # train logged to the stack's tracker
    finally:
        _remove_stack()


def _wait_for_jobs(client, names: list[str], timeout: float = 240) -> dict[str, str]:
    deadline = time.time() + timeout
    states: dict[str, str] = {}
    while time.time() < deadline:
        for name in names:
            service = client.services.get(f"{STACK}_{name}")
            tasks = service.tasks()
            states[name] = tasks[0]["Status"]["State"] if tasks else "new"
        if all(s in ("complete", "failed", "rejected") for s in states.values()):
            break
        time.sleep(1)
    return states


def _remove_stack() -> None:
    """Remove the test's stack, its finished job containers and its volumes."""
    subprocess.run(["docker", "stack", "rm", STACK], capture_output=True)
    label = f"label=com.docker.stack.namespace={STACK}"
    deadline = time.time() + 60
    while time.time() < deadline:
        listed = subprocess.run(["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True)
        networks = subprocess.run(
            ["docker", "network", "ls", "-q", "--filter", label], capture_output=True, text=True
        )
        if not listed.stdout.strip() and not networks.stdout.strip():
            break
        subprocess.run(["docker", "rm", "-f", *listed.stdout.split()], capture_output=True)
        time.sleep(0.5)
    for volume in ("data", "nodes", "tracker-store"):
        subprocess.run(["docker", "volume", "rm", f"{STACK}_{volume}"], capture_output=True)
