"""`scanflow deploy` on this machine: a background `scanflow serve` that outlives the command."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import psutil
from typer.testing import CliRunner

from scanflow.cli import app

from .helpers import DigitsRegistry, flat, predict, unique_name, wait_for

cli = CliRunner()


def _deploy(registry: DigitsRegistry, *args: str):
    return cli.invoke(app, ["deploy", *args, "--tracking-uri", registry.tracking_uri], env={"COLUMNS": "250"})


def test_a_local_deployment_serves_follows_its_alias_and_is_removed(
    digits_registry: DigitsRegistry, deployments: list[str], project: Path
) -> None:
    from mlflow import MlflowClient

    name = unique_name("local")
    deployments.append(name)
    settings = ("--name", name, "--port", "0", "--follow-every", "1", "--log-keep", "30d")
    first = _deploy(digits_registry, "models:/digits@champion", *settings)
    assert first.exit_code == 0, first.output
    url = flat(first.output).split(" at ")[1].split()[0]
    assert url.startswith("http://127.0.0.1:")
    assert predict(url, digits_registry) == (digits_registry.expected["1"], "digits/1")

    again = _deploy(digits_registry, "models:/digits@champion", *settings)
    assert (
        again.exit_code == 0 and "is already up to date" in flat(again.output) and url in flat(again.output)
    )

    registry = MlflowClient(digits_registry.tracking_uri, digits_registry.tracking_uri)
    registry.set_registered_model_alias("digits", "champion", "2")
    try:
        wait_for(lambda: predict(url, digits_registry)[1] == "digits/2", timeout=60, message="the swap to v2")
        assert predict(url, digits_registry)[0] == digits_registry.expected["2"]
    finally:
        registry.set_registered_model_alias("digits", "champion", "1")

    logged = cli.invoke(app, ["deploy", "logs", name])
    assert logged.exit_code == 0 and "loaded digits/1" in logged.output
    assert "now serving digits/2 (was digits/1)" in logged.output, "the swap is in the server's output"
    last = cli.invoke(app, ["deploy", "logs", name, "--tail", "1"]).output
    assert last.count("\n") == 1 and last in logged.output

    status = cli.invoke(app, ["deploy", "status", name], env={"COLUMNS": "80"})
    assert status.exit_code == 0 and name in flat(status.output) and "running" in flat(status.output)
    assert url in status.output, "the URL is whole on one line, to be copied, in a terminal of 80 columns"
    assert "models:/digits@" in status.output and "(v2)" in status.output, "the alias and its version now"
    [listed] = json.loads(cli.invoke(app, ["deploy", "status", name, "--json"]).stdout)
    assert (listed["name"], listed["backend"], listed["state"], listed["urls"]) == (
        name,
        "local",
        "running",
        [url],
    )
    assert listed["model"] == "models:/digits@champion"
    record = project / ".scanflow" / "deployments" / f"{name}.json"
    pid = int(json.loads(record.read_text())["pid"])
    command = " ".join(psutil.Process(pid).cmdline())
    assert "--log-keep 30d" in command, "the retention reaches the server"

    removed = cli.invoke(app, ["deploy", "rm", name])
    assert removed.exit_code == 0 and f"removed {name} (local)" in flat(removed.output)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not record.exists()
    assert "no deployment named" in cli.invoke(app, ["deploy", "logs", name, "--backend", "docker"]).output
    gone = cli.invoke(app, ["deploy", "rm", name])
    assert gone.exit_code == 1 and f"no deployment named '{name}'" in flat(gone.output)


def test_a_failed_replacement_brings_the_previous_server_back(
    digits_registry: DigitsRegistry, deployments: list[str], write
) -> None:
    name = unique_name("local")
    deployments.append(name)
    first = _deploy(digits_registry, "models:/digits/1", "--name", name, "--port", "0")
    assert first.exit_code == 0, first.output
    url = flat(first.output).split(" at ")[1].split()[0]
    write("broken.py", "raise RuntimeError('this checker cannot even be imported')\n")
    failed = _deploy(
        digits_registry, "models:/digits/2", "--name", name, "--port", "0", "--checker", "broken.py"
    )
    assert failed.exit_code == 1
    assert "this checker cannot even be imported" in flat(failed.output)
    assert "started the previous" in flat(failed.output)
    assert predict(url, digits_registry) == (digits_registry.expected["1"], "digits/1")


def test_what_cannot_work_is_refused_before_anything_starts(
    digits_registry: DigitsRegistry, deployments: list[str], project: Path
) -> None:
    name = unique_name("local")
    deployments.append(name)
    missing = _deploy(digits_registry, "models:/digits@nonesuch", "--name", name)
    assert missing.exit_code == 1
    assert "cannot find alias 'nonesuch' of registered model 'digits'" in flat(missing.output)

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        taken = _deploy(digits_registry, "models:/digits/1", "--name", name, "--port", str(port))
    assert taken.exit_code == 1 and f"port {port} on 127.0.0.1 is taken" in flat(taken.output)

    exposed = _deploy(digits_registry, "models:/digits/1", "--name", name, "--host", "0.0.0.0")
    assert (
        exposed.exit_code == 1
        and "give a token" in flat(exposed.output)
        and "--insecure" in flat(exposed.output)
    )

    several = _deploy(digits_registry, "models:/digits/1", "--name", name, "--replicas", "2")
    assert several.exit_code == 2 and "backend 'swarm' for replicas" in flat(several.output)
    assert not (project / ".scanflow" / "deployments" / f"{name}.json").exists()  # nothing was started
