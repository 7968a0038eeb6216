"""The Deployment node as a spec: Python and YAML alike, validated before anything runs, drawn."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from scanflow import Deployment, Executor, SpecError, Workflow
from scanflow.cli import app

YAML = """\
name: digits
nodes:
  - executor: train
    file: train.py
  - deployment: digits-api
    model: models:/digits@champion
    depends_on: [train]
    backend: swarm
    replicas: 3
    port: 9000
"""


def test_python_and_yaml_deployments_are_the_same_workflow(write) -> None:
    write("train.py", "print('training')\n")
    from_yaml = Workflow.from_yaml(write("wf.yaml", YAML))
    in_python = Workflow(
        "digits",
        nodes=[
            Executor("train", file="train.py"),
            Deployment(
                "digits-api",
                model="models:/digits@champion",
                backend="swarm",
                replicas=3,
                port=9000,
                depends_on=["train"],
            ),
        ],
    )
    assert from_yaml == in_python
    assert in_python.to_yaml() == YAML.replace("  - ", "- ").replace("\n    ", "\n  ")
    steps = {step.key: step for step in from_yaml.graph()}
    assert steps["digits-api"].upstream == {"train"}
    assert steps["digits-api"].deployment == from_yaml["digits-api"]
    assert steps["train"].deployment is None


def test_mistakes_in_a_deployment_name_the_field_the_node_and_the_line(write) -> None:
    write("train.py", "")
    text = """\
        name: w
        nodes:
          - executor: train
            file: train.py
          - deployment: api
            modle: models:/digits/1
          - deployment: one
            model: models:/digits/1
            backend: docker
            replicas: 2
          - deployment: mesh
            model: models:/digits/1
            endpoint_mode: dnsrr
            publish_mode: ingress
          - deploy: typo
            model: models:/digits/1
        """
    with pytest.raises(SpecError) as caught:
        Workflow.from_yaml(write("wf.yaml", text))
    problems = [str(p) for p in caught.value.problems]
    assert any(
        "wf.yaml:6:" in p and "unknown field 'modle'" in p and "did you mean 'model'?" in p for p in problems
    )
    assert any(
        "wf.yaml:7:" in p and "node 'one'" in p and "a docker deployment is one server" in p for p in problems
    )
    assert any("node 'mesh'" in p and "set publish_mode 'host'" in p for p in problems)
    assert any("wf.yaml:15:" in p and "did you mean 'deployment'?" in p for p in problems)

    write("drift.py", "")
    checked = (
        "name: w\nnodes:\n  - {deployment: checked, model: 'models:/digits/1', checkers: [drfit.py:drift]}\n"
    )
    with pytest.raises(
        SpecError, match=r"node 'checked': checker file 'drfit.py' not found \(did you mean 'drift.py'"
    ):
        Workflow.from_yaml(write("checked.yaml", checked))


def test_validate_and_graph_show_the_deployment(write) -> None:
    write("train.py", "print('training')\n")
    workflow = write("wf.yaml", YAML)
    cli = CliRunner()
    checked = cli.invoke(app, ["validate", str(workflow)])
    assert checked.exit_code == 0 and "2 step(s)" in checked.output
    drawn = cli.invoke(app, ["graph", str(workflow), "-o", "wf.dot"])
    assert drawn.exit_code == 0
    dot = (workflow.parent / "wf.dot").read_text()
    assert '"digits-api" [label="▶ digits-api", shape=component' in dot
    assert '"train" -> "digits-api";' in dot
