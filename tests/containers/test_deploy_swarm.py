"""`scanflow deploy --backend swarm` against a real single-node swarm.

This machine has no IPVS, so the routing mesh and VIPs do not work here: the
service is tested with DNS round robin and host-mode published ports (the
defaults, VIP and ingress, are for real clusters). A node binds a host-mode
port for one task, so the replicated deployment publishes a port per replica
(port 0), each replica is asked on its own port and, from a container on the
service's network, through the deployment's DNS name; a one-replica
deployment then answers on a fixed port.
"""

from __future__ import annotations

import json

import httpx
import pytest
from deploy.helpers import DigitsRegistry, flat, left_behind, predict, swaps_when_the_alias_moves, unique_name
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.deploy.ports import free_port

pytestmark = pytest.mark.docker
cli = CliRunner()
TOKEN = "swarm-test-token"
MODES = ["--endpoint-mode", "dnsrr", "--publish-mode", "host"]
# Under the test's own timeout, so a deployment that never becomes ready fails with its state and log.
READY = ["--ready-timeout", "150s"]


def _deploy(registry: DigitsRegistry, *args: str):
    command = ["deploy", *args, "--backend", "swarm", "--token", TOKEN, *MODES, *READY]
    return cli.invoke(app, [*command, "--tracking-uri", registry.tracking_uri], env={"COLUMNS": "250"})


def _urls(output: str) -> list[str]:
    where = flat(output).split(" at ", 1)[1].split(" serving ")[0]
    return [url.strip() for url in where.split(",")]


def _through_dns(client, image: str, network: str, name: str) -> dict[str, str]:
    """From a container on the service's network: each address the name resolves to, and what it serves."""
    probe = f"""
import json, socket, urllib.request
addresses = sorted({{a[4][0] for a in socket.getaddrinfo({name!r}, 8080, proto=socket.IPPROTO_TCP)}})
served = {{}}
for address in addresses:
    headers = {{"Authorization": "Bearer {TOKEN}"}}
    request = urllib.request.Request(f"http://{{address}}:8080/version", headers=headers)
    served[address] = json.load(urllib.request.urlopen(request, timeout=10))["models"]["digits"]
print(json.dumps(served))
"""
    output = client.containers.run(
        image,
        ["-c", probe],
        entrypoint="python",
        network=network,
        remove=True,
        labels={"scanflow.deployment": name},
    )
    return json.loads(output.decode().strip().splitlines()[-1])


@pytest.mark.timeout(900)
def test_a_swarm_deployment_runs_replicas_that_each_answer_and_updates_them_rolling(
    swarm_manager, digits_registry: DigitsRegistry, deployments: list[str], write
) -> None:
    name = unique_name("swarm")
    deployments.append(name)
    first = _deploy(digits_registry, "models:/digits/1", "--name", name, "--replicas", "2", "--port", "0")
    assert first.exit_code == 0, first.output
    urls = _urls(first.output)
    assert len(urls) == 2 and all(u.startswith("http://127.0.0.1:") for u in urls)
    for url in urls:  # each replica, on its own host-mode published port
        assert predict(url, digits_registry, TOKEN) == (digits_registry.expected["1"], "digits/1")
        assert httpx.post(f"{url}/invocations", json=digits_registry.body()).status_code == 401

    [service] = left_behind(swarm_manager, name)["services"]
    spec = service.attrs["Spec"]
    assert spec["Labels"]["scanflow.deployment"] == name and spec["Labels"]["scanflow.model_version"] == "1"
    assert spec["Mode"]["Replicated"]["Replicas"] == 2
    update = spec["UpdateConfig"]
    assert (update["Order"], update["FailureAction"], update["Parallelism"]) == ("start-first", "rollback", 1)
    template = spec["TaskTemplate"]
    assert template["RestartPolicy"]["Condition"] == "any"
    assert template["Resources"]["Limits"] == {"NanoCPUs": 10**9, "MemoryBytes": 1024**3}
    assert spec["EndpointSpec"]["Mode"] == "dnsrr"
    image = template["ContainerSpec"]["Image"]
    assert "/ready" in str(swarm_manager.images.get(image).attrs["Config"]["Healthcheck"]["Test"])
    network = f"scanflow-deploy-{name}"
    served = _through_dns(swarm_manager, image, network, name)
    assert len(served) == 2 and set(served.values()) == {"digits/1"}, served

    second = _deploy(digits_registry, "models:/digits/2", "--name", name, "--replicas", "2", "--port", "0")
    assert second.exit_code == 0, second.output
    assert "rolling update" in flat(second.output)
    service.reload()
    assert service.attrs["UpdateStatus"]["State"] == "completed"
    new_urls = _urls(second.output)
    assert len(new_urls) == 2
    for url in new_urls:
        assert predict(url, digits_registry, TOKEN) == (digits_registry.expected["2"], "digits/2")
    new_image = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert set(_through_dns(swarm_manager, new_image, network, name).values()) == {"digits/2"}

    write("broken.py", "raise RuntimeError('this checker cannot even be imported')\n")
    args = ("--name", name, "--replicas", "2", "--port", "0", "--checker", "broken.py")
    failed = _deploy(digits_registry, "models:/digits/1", *args)
    assert failed.exit_code == 1
    assert "Swarm rolled the update back" in flat(failed.output), failed.output
    assert set(_through_dns(swarm_manager, new_image, network, name).values()) == {"digits/2"}

    port = free_port()  # one replica on a fixed port of the node
    third = _deploy(
        digits_registry, "models:/digits/2", "--name", name, "--replicas", "1", "--port", str(port)
    )
    assert third.exit_code == 0, third.output
    assert _urls(third.output) == [f"http://127.0.0.1:{port}"]
    assert predict(f"http://127.0.0.1:{port}", digits_registry, TOKEN)[1] == "digits/2"
    service.reload()
    assert service.attrs["Spec"]["UpdateConfig"]["Order"] == "stop-first"  # the old task holds the port

    listed = cli.invoke(app, ["deploy", "status", name, "--backend", "swarm"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0 and "1/1" in flat(listed.output) and str(port) in flat(listed.output)
    logged = cli.invoke(app, ["deploy", "logs", name, "--backend", "swarm"])
    assert logged.exit_code == 0 and "loaded digits/2" in logged.output, "the replicas' output"
    removed = cli.invoke(app, ["deploy", "rm", name, "--backend", "swarm"])
    assert removed.exit_code == 0 and f"removed {name} (swarm)" in flat(removed.output)
    assert left_behind(swarm_manager, name) == {"containers": [], "services": [], "networks": []}


def test_a_following_swarm_deployment_gets_the_registry_certificate_as_a_secret(
    swarm_manager, deployments: list[str], as_guarded_admin
) -> None:
    """A bind mount would need the CA bundle on every node: a Swarm secret travels with the task."""
    from scanflow.deploy.naming import deployment_filter

    _, registry = as_guarded_admin
    name = unique_name("guarded")
    deployments.append(name)
    settings = ("--name", name, "--port", "0", "--follow", "--follow-every", "1")
    result = _deploy(registry, "models:/digits@champion", *settings)
    assert result.exit_code == 0, result.output
    [url] = _urls(result.output)
    swaps_when_the_alias_moves(url, registry, TOKEN)
    [service] = left_behind(swarm_manager, name)["services"]
    [secret] = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert secret["File"]["Name"] == "/run/scanflow/tracker-tls/server-ca.pem"
    removed = cli.invoke(app, ["deploy", "rm", name, "--backend", "swarm"])
    assert removed.exit_code == 0, removed.output
    assert not swarm_manager.secrets.list(filters=deployment_filter(name)), "removed with the service"


def test_more_replicas_than_nodes_on_one_host_port_is_refused_with_the_fixes(
    swarm_manager, digits_registry: DigitsRegistry, deployments: list[str]
) -> None:
    name = unique_name("swarm")
    deployments.append(name)
    result = _deploy(
        digits_registry, "models:/digits/1", "--name", name, "--replicas", "2", "--port", str(free_port())
    )
    assert result.exit_code == 1
    text = flat(result.output)
    assert "2 replicas cannot all publish port" in text and "give port 0" in text and "ingress" in text
    assert left_behind(swarm_manager, name)["services"] == []
