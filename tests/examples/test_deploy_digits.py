"""The deploy example: train and register a digits model, then serve it from the workflow's last node."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

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
    row = [
        0,
        0,
        5,
        13,
        9,
        1,
        0,
        0,
        0,
        0,
        13,
        15,
        10,
        15,
        5,
        0,
        0,
        3,
        15,
        2,
        0,
        11,
        8,
        0,
        0,
        4,
        12,
        0,
        0,
        8,
        8,
        0,
    ]
    row += [
        0,
        5,
        8,
        0,
        0,
        9,
        8,
        0,
        0,
        4,
        11,
        0,
        1,
        12,
        7,
        0,
        0,
        2,
        14,
        5,
        10,
        12,
        0,
        0,
        0,
        0,
        6,
        13,
        10,
        0,
        0,
        0,
    ]
    response = httpx.post(f"{url}/invocations", json={"inputs": [row]}, timeout=30)
    assert response.status_code == 200 and response.json()["predictions"] == [0]
    assert response.headers["x-scanflow-model"] == "digits/1"
