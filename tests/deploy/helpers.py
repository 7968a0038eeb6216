"""Helpers of the deployment tests: a real MLflow registry of digits models, requests, cleanup.

Importable as ``deploy.helpers`` from every test folder (the root conftest puts
``tests/`` on the path), so the container tests share them.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

ROWS = 20  # digits predicted in each check


@dataclass(frozen=True)
class DigitsRegistry:
    """An MLflow store holding ``digits`` versions 1 and 2 (``champion`` on 1), and what each predicts."""

    tracking_uri: str
    columns: list[str]
    rows: list[list[float]]
    expected: dict[str, list[int]]  # version -> predictions on ``rows``

    def body(self) -> dict:
        return {"dataframe_split": {"columns": self.columns, "data": self.rows}}


def log_digits_models(tracking_uri: str, experiment: str, artifacts: str | None = None) -> dict[str, list]:
    """Log and register two logistic regressions on scikit-learn's digits; their predictions by version.

    Their requirements are written out (scikit-learn at this machine's version)
    so every test's serving image needs the same wheels and shares one
    dependency image.
    """
    from scanflow.deploy.model_source import mlflow_pointed_at

    with mlflow_pointed_at(tracking_uri):
        return _log_models(tracking_uri, experiment, artifacts)


def _log_models(tracking_uri: str, experiment: str, artifacts: str | None) -> dict[str, list]:
    import mlflow
    import sklearn
    from digits_models import register_digits_models

    experiment_id = mlflow.create_experiment(experiment, artifact_location=artifacts)
    x, _, models, _ = register_digits_models(experiment_id, [f"scikit-learn=={sklearn.__version__}"])
    rows = x[:ROWS]
    predictions = {str(version): model.predict(rows) for version, model in enumerate(models, start=1)}
    return {"columns": list(x.columns), "rows": rows.values.tolist(), **predictions}


def build_digits_registry(folder: Path) -> DigitsRegistry:
    return registry_at(f"sqlite:///{folder / 'mlflow.db'}", "digits", (folder / "artifacts").as_uri())


def registry_at(uri: str, experiment: str, artifacts: str | None = None) -> DigitsRegistry:
    """The two digits models logged and registered in the store at ``uri``."""
    logged = log_digits_models(uri, experiment, artifacts)
    expected = {version: logged[version].tolist() for version in ("1", "2")}
    assert expected["1"] != expected["2"], "the two versions must answer differently"
    return DigitsRegistry(uri, logged["columns"], logged["rows"], expected)


def predict(url: str, registry: DigitsRegistry, token: str | None = None) -> tuple[list[int], str]:
    """Predictions of the service at ``url`` on the registry's rows, and the model version that answered."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{url}/invocations", json=registry.body(), headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["predictions"], response.headers["x-scanflow-model"]


def unique_name(kind: str) -> str:
    return f"t{uuid.uuid4().hex[:6]}-{kind}"


def remove_deployments(names: list[str], home: Path | None = None) -> None:
    """Remove the tests' deployments on every backend, and anything still carrying their labels."""
    from scanflow.deploy.deployments import remove_deployment

    for name in names:
        with contextlib.suppress(Exception):
            remove_deployment(name, home=home)
    with contextlib.suppress(Exception):
        import docker

        client = docker.from_env(timeout=30)
        for name in names:
            selected = {"label": [f"scanflow.deployment={name}"]}
            for service in client.services.list(filters=selected) if _is_swarm(client) else []:
                service.remove()
            for container in client.containers.list(all=True, filters=selected):
                container.remove(force=True)
            for network in client.networks.list(filters=selected):
                with contextlib.suppress(Exception):
                    network.remove()


def _is_swarm(client) -> bool:
    return client.info().get("Swarm", {}).get("LocalNodeState") == "active"


def left_behind(client, name: str) -> dict[str, list]:
    """What of deployment ``name`` is still on the engine."""
    selected = {"label": [f"scanflow.deployment={name}"]}
    return {
        "containers": client.containers.list(all=True, filters=selected),
        "services": client.services.list(filters=selected) if _is_swarm(client) else [],
        "networks": client.networks.list(filters=selected),
    }


def swaps_when_the_alias_moves(url: str, registry: DigitsRegistry, token: str | None = None) -> None:
    """The service at ``url`` follows digits@champion: version 1 now, version 2 once the alias moves."""
    from mlflow import MlflowClient

    assert predict(url, registry, token) == (registry.expected["1"], "digits/1")
    client = MlflowClient(registry.tracking_uri, registry.tracking_uri)
    client.set_registered_model_alias("digits", "champion", "2")

    def swapped() -> bool:
        return predict(url, registry, token)[1] == "digits/2"

    wait_for(swapped, timeout=60, message="the swap to version 2")
    assert predict(url, registry, token)[0] == registry.expected["2"]


def wait_for(condition, timeout: float = 30, interval: float = 0.3, message: str = "condition"):
    """Poll until ``condition()`` returns something truthy; return it."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError, AssertionError):
            value = condition()
            if value:
                return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


def flat(text: str) -> str:
    """Command output on one line: the console wraps long messages at its width."""
    return " ".join(text.split())
