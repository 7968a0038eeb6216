"""The deploy example: train and register a digits model, then serve it from the workflow's last node."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_digits

from scanflow import Workflow
from scanflow.run.runner import run_workflow

EXAMPLE = Path(__file__).parents[2] / "examples" / "deploy_digits"


@pytest.mark.slow
def test_the_example_serves_the_model_it_registered(
    project: Path, tracking: str, deployments: list[str]
) -> None:
    shutil.copytree(EXAMPLE, project / "example", ignore=shutil.ignore_patterns(".scanflow"))
    workflow = Workflow.from_yaml(project / "example" / "workflow.yaml")
    workflow["digits-api"].port = 0  # any free port: 8080 may be taken where the tests run
    deployments.append("digits-api")
    result = run_workflow(workflow, stream_logs=False)
    assert result.ok, {key: step.reason for key, step in result.steps.items()}

    log = Path(result.steps["digits-api"].log_path).read_text()
    url = log.split(" at ", 1)[1].split()[0]
    digits = load_digits()
    body = {"inputs": digits.data[:5].tolist()}  # the example's curl sends the first of these
    response = httpx.post(f"{url}/invocations", json=body, timeout=30)
    assert response.status_code == 200
    assert sum(p == t for p, t in zip(response.json()["predictions"], digits.target[:5], strict=True)) >= 4
    assert response.headers["x-scanflow-model"] == "digits/1"
