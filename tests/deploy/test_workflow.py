"""A workflow ending with a Deployment node: deployed by the run, tracked, left serving after it."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.run.runner import run_workflow
from scanflow.run.status import RunStatus, StepStatus

from .helpers import DigitsRegistry, flat, predict, unique_name

WORKFLOW = """\
name: {workflow}
env_manager: current
nodes:
  - executor: check
    file: check.py
  - deployment: {name}
    model: {model}
    port: 0
    depends_on: [check]
"""


def test_the_run_deploys_the_model_tracks_the_endpoint_and_leaves_it_serving(
    digits_registry: DigitsRegistry, deployments: list[str], write
) -> None:
    name = unique_name("wf")
    deployments.append(name)
    write("check.py", "print('the model passed its checks')\n")
    workflow = write("wf.yaml", WORKFLOW.format(workflow="ship", name=name, model="models:/digits/2"))
    result = run_workflow(workflow, tracking_uri=digits_registry.tracking_uri, stream_logs=False)
    assert result.ok, {k: r.reason for k, r in result.steps.items()}
    log = Path(result.steps[name].log_path).read_text()
    assert f"stop it with: scanflow deploy rm {name} --backend local" in log

    step_run = MlflowClient(digits_registry.tracking_uri).get_run(result.steps[name].mlflow_run_id)
    tags = step_run.data.tags
    assert tags["scanflow.status"] == "done" and tags["scanflow.deploy.backend"] == "local"
    assert tags["scanflow.deploy.replicas"] == "1" and tags["scanflow.deploy.model_version"] == "2"
    assert step_run.data.params["model"] == "models:/digits/2"
    url = tags["scanflow.deploy.url"]
    assert predict(url, digits_registry) == (digits_registry.expected["2"], "digits/2")  # after the run

    status = CliRunner().invoke(app, ["deploy", "status", "--backend", "local"], env={"COLUMNS": "250"})
    assert name in flat(status.output) and url in flat(status.output)


def test_a_deployment_that_cannot_serve_fails_its_step_with_the_reason(
    digits_registry: DigitsRegistry, deployments: list[str], write
) -> None:
    name = unique_name("wf")
    deployments.append(name)
    write("check.py", "print('checked')\n")
    workflow = write(
        "wf.yaml", WORKFLOW.format(workflow="noship", name=name, model="models:/digits@nonesuch")
    )
    result = run_workflow(workflow, tracking_uri=digits_registry.tracking_uri, stream_logs=False)
    assert result.status is RunStatus.FAILED
    step = result.steps[name]
    assert step.status is StepStatus.FAILED and result.steps["check"].status is StepStatus.DONE
    assert "cannot find alias 'nonesuch' of registered model 'digits'" in (step.reason or "")
    assert not (Path(".scanflow") / "deployments" / f"{name}.json").exists()
