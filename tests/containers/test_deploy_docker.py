"""`scanflow deploy --backend docker` against a real engine: the model in its image, replaced safely."""

from __future__ import annotations

import io
import tarfile
import time

import httpx
import numpy as np
import pytest
from deploy.helpers import (
    DigitsRegistry,
    flat,
    left_behind,
    predict,
    registry_at,
    swaps_when_the_alias_moves,
    unique_name,
    wait_for,
)
from tracker_server import ADMIN_PASSWORD
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.deploy.deployments import deployment_statuses
from scanflow.run.status import StepStatus

pytestmark = pytest.mark.docker
cli = CliRunner()
TOKEN = "deploy-test-token"


def _deploy(registry: DigitsRegistry, *args: str, uri: str | None = None):
    tracking = ["--tracking-uri", uri or registry.tracking_uri]
    return cli.invoke(app, ["deploy", *args, "--backend", "docker", *tracking], env={"COLUMNS": "250"})


def _url(output: str) -> str:
    return flat(output).split(" at ")[1].split()[0]


def test_a_docker_deployment_serves_its_packed_model_and_is_replaced_safely(
    docker_client, digits_registry: DigitsRegistry, deployments: list[str], write
) -> None:
    name = unique_name("docker")
    deployments.append(name)
    first = _deploy(digits_registry, "models:/digits/1", "--name", name, "--port", "0", "--token", TOKEN)
    assert first.exit_code == 0, first.output
    url = _url(first.output)
    assert url.startswith("http://127.0.0.1:")
    assert predict(url, digits_registry, TOKEN) == (digits_registry.expected["1"], "digits/1")
    assert httpx.post(f"{url}/invocations", json=digits_registry.body()).status_code == 401

    [container] = left_behind(docker_client, name)["containers"]
    attrs = container.attrs
    assert (
        container.labels["scanflow.kind"] == "deployment"
        and container.labels["scanflow.model_version"] == "1"
    )
    assert attrs["Config"]["User"] == "10001:10001"  # not root
    assert attrs["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"] == "127.0.0.1"
    assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert attrs["HostConfig"]["Memory"] == 1024**3 and attrs["HostConfig"]["NanoCpus"] == 10**9
    environment = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
    assert "SCANFLOW_TRACKING_URI" not in environment  # the model is in the image: no registry needed
    assert "/ready" in str(attrs["Config"]["Healthcheck"]["Test"])
    wait_for(lambda: _health(container) == "healthy", timeout=60, message="a healthy container")

    unchanged = _deploy(digits_registry, "models:/digits/1", "--name", name, "--port", "0", "--token", TOKEN)
    assert unchanged.exit_code == 0 and "is already up to date" in flat(unchanged.output)
    assert [c.id for c in left_behind(docker_client, name)["containers"]] == [container.id]

    second = _deploy(digits_registry, "models:/digits/2", "--name", name, "--port", "0", "--token", TOKEN)
    assert second.exit_code == 0, second.output
    assert _url(second.output) == url  # any port at first, then the same one clients know
    assert predict(url, digits_registry, TOKEN) == (digits_registry.expected["2"], "digits/2")
    [replacement] = left_behind(docker_client, name)["containers"]
    assert replacement.id != container.id

    write("broken.py", "raise RuntimeError('this checker cannot even be imported')\n")
    broken = _deploy(
        digits_registry,
        "models:/digits/1",
        "--name",
        name,
        "--port",
        "0",
        "--token",
        TOKEN,
        "--checker",
        "broken.py",
    )
    assert broken.exit_code == 1
    assert "this checker cannot even be imported" in flat(broken.output)
    assert "started the previous container" in flat(broken.output)
    assert predict(url, digits_registry, TOKEN) == (digits_registry.expected["2"], "digits/2")

    def listed() -> str:
        shown = cli.invoke(app, ["deploy", "status", name, "--backend", "docker"], env={"COLUMNS": "250"})
        return flat(shown.output) if shown.exit_code == 0 else ""

    # The engine calls it healthy at its next health check (every 5 s).
    assert url in wait_for(lambda: "running" in listed() and listed(), timeout=30, message="running")
    logged = cli.invoke(app, ["deploy", "logs", name, "--backend", "docker"])
    assert logged.exit_code == 0 and "loaded digits/2" in logged.output, "the container's own output"
    removed = cli.invoke(app, ["deploy", "rm", name])
    assert removed.exit_code == 0 and f"removed {name} (docker)" in flat(removed.output)
    assert left_behind(docker_client, name) == {"containers": [], "services": [], "networks": []}


def _health(container) -> str:
    container.reload()
    return container.attrs["State"].get("Health", {}).get("Status", "")


def test_a_following_deployment_hot_swaps_when_the_alias_moves(
    docker_client, deployments: list[str], project
) -> None:
    """The service reads the model from a tracking server on a network it joins, and follows its alias."""
    from scanflow.run.images import ImageBuilder
    from scanflow.run.workflow_tracker import TRACKER_PORT, server_command, server_environment, tracker_image

    name = unique_name("follow")
    deployments.append(name)
    labels = {"scanflow.deployment": name}  # the test's network and tracker go with the deployment
    network = docker_client.networks.create(f"scanflow-{name}-net", driver="bridge", labels=labels)
    tracker = docker_client.containers.run(
        tracker_image(ImageBuilder(docker_client, print), name),
        server_command(),
        detach=True,
        labels=labels,
        network=network.name,
        environment={**server_environment(name), "MLFLOW_SERVER_ALLOWED_HOSTS": "*"},
    )
    tracker.reload()
    uri = f"http://{tracker.attrs['NetworkSettings']['Networks'][network.name]['IPAddress']}:{TRACKER_PORT}"
    wait_for(
        lambda: httpx.get(f"{uri}/health", timeout=2).status_code == 200, timeout=120, message="the tracker"
    )
    registry = registry_at(uri, "digits-follow")

    result = _deploy(
        registry,
        "models:/digits@champion",
        "--name",
        name,
        "--port",
        "0",
        "--follow",
        "--follow-every",
        "1",
        "--network",
        network.name,
        uri=uri,
    )
    assert result.exit_code == 0, result.output
    swaps_when_the_alias_moves(_url(result.output), registry)
    [status], _ = deployment_statuses(name, "docker")
    assert (status.model, status.version, status.state) == ("models:/digits@champion", "2", "running")


def test_a_following_deployment_reads_a_password_protected_https_registry(
    docker_client, deployments: list[str], as_guarded_admin
) -> None:
    """The server in the container talks to the user's registry itself: as the user, trusting its CA."""
    _, registry = as_guarded_admin
    name = unique_name("guarded")
    deployments.append(name)
    settings = ("--name", name, "--port", "0", "--follow", "--follow-every", "1")
    result = _deploy(registry, "models:/digits@champion", *settings)
    assert result.exit_code == 0, result.output
    swaps_when_the_alias_moves(_url(result.output), registry)
    [container] = left_behind(docker_client, name)["containers"]
    assert "MLFLOW_TRACKING_PASSWORD=" + ADMIN_PASSWORD in container.attrs["Config"]["Env"]
    mounted = {m["Destination"]: m["RW"] for m in container.attrs["Mounts"]}
    assert mounted == {"/run/scanflow/tracker-tls/server-ca.pem": False}, "the CA bundle, read-only"


def test_a_docker_deployment_node_in_a_local_run_is_tracked_with_its_image(
    docker_client, digits_registry: DigitsRegistry, deployments: list[str], write
) -> None:
    from mlflow import MlflowClient

    from scanflow.run.runner import run_workflow

    name = unique_name("node")
    deployments.append(name)
    write("check.py", "print('checked')\n")
    workflow = write(
        "wf.yaml",
        f"name: ship-docker\nenv_manager: current\nnodes:\n  - {{executor: check, file: check.py}}\n"
        f"  - {{deployment: {name}, model: 'models:/digits/2', backend: docker, port: 0}}\n",
    )
    result = run_workflow(workflow, tracking_uri=digits_registry.tracking_uri, stream_logs=False)
    assert result.ok, {k: r.reason for k, r in result.steps.items()}
    tags = MlflowClient(digits_registry.tracking_uri).get_run(result.steps[name].mlflow_run_id).data.tags
    assert tags["scanflow.deploy.backend"] == "docker" and tags["scanflow.deploy.image"].startswith(
        "scanflow-serve-digits:"
    )
    assert predict(tags["scanflow.deploy.url"], digits_registry) == (
        digits_registry.expected["2"],
        "digits/2",
    )
    assert result.steps[name].status is StepStatus.DONE


def test_a_port_in_use_and_a_failing_build_are_explained(
    docker_client, digits_registry: DigitsRegistry, deployments: list[str], monkeypatch
) -> None:
    import socket

    name = unique_name("fail")
    deployments.append(name)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        taken = _deploy(digits_registry, "models:/digits/1", "--name", name, "--port", str(port))
    assert taken.exit_code == 1 and f"port {port} on 127.0.0.1 is taken" in flat(taken.output)
    assert time.monotonic() - started < 30  # refused before any build

    base = f"scanflow-test-no-python:{name}"  # failure injection: a base image without a shell or Python
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        data = b"nothing to run here\n"
        info = tarfile.TarInfo("README")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    repository, tag = base.split(":")
    docker_client.api.import_image_from_data(
        archive.getvalue(), repository=repository, tag=tag, changes=[f"LABEL scanflow.deployment={name}"]
    )
    try:
        monkeypatch.setenv("SCANFLOW_BASE_IMAGE", base)
        failed = _deploy(digits_registry, "models:/digits/1", "--name", name, "--port", "0")
    finally:
        docker_client.images.remove(base, force=True)
    assert failed.exit_code == 1
    text = flat(failed.output)
    assert "failed at:" in text and "RUN python3 -m venv /opt/scanflow/venv" in text
    assert left_behind(docker_client, name)["containers"] == []


def test_an_optimized_model_deploys_with_its_runtime_and_answers_like_the_original(
    docker_client, deployments: list[str], tmp_path
) -> None:
    from deploy.helpers import build_digits_registry

    registry = build_digits_registry(tmp_path / "registry")
    np.savez(tmp_path / "rows.npz", X=np.asarray(registry.rows, dtype=float))
    optimized = cli.invoke(
        app,
        ["optimize", "models:/digits/1", "--data", str(tmp_path / "rows.npz")]
        + ["--tracking-uri", registry.tracking_uri],
        env={"COLUMNS": "250"},
    )
    assert optimized.exit_code == 0, optimized.output
    assert "registered digits/3" in flat(optimized.output)
    name = unique_name("onnx")
    deployments.append(name)
    deployed = _deploy(registry, "models:/digits/3", "--name", name, "--port", "0")
    assert deployed.exit_code == 0, deployed.output
    # The image holds ONNX Runtime from the model's requirements; its predictions are the original's.
    assert predict(_url(deployed.output), registry) == (registry.expected["1"], "digits/3")
