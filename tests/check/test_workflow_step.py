"""A checker node in a real workflow, logging its verdict, metrics and report to MLflow."""

import textwrap

from scanflow import Executor, Workflow
from scanflow.run.runner import run_workflow
from scanflow.track.query import find_workflow_run, run_tree
from scanflow.track.store import open_client

from .data import mixed_table

STEPS = """
    import shutil

    def receive_batch(source):
        shutil.copy(source, "current.csv")  # the batch arrives in the workflow's data directory
"""


def test_checker_node_logs_to_the_workflow_run(project):
    mixed_table(600, seed=0).to_csv(project / "reference.csv", index=False)
    mixed_table(150, seed=5, shift=1.0).to_csv(project / "incoming.csv", index=False)
    (project / "steps.py").write_text(textwrap.dedent(STEPS))
    workflow = Workflow(
        "monitor",
        nodes=[
            Executor(
                "batch",
                function="steps:receive_batch",
                parameters={"source": str(project / "incoming.csv")},
                env_manager="current",
            ),
            Executor(
                "drift",
                function="scanflow.check.step:check_dataset",
                parameters={"reference": str(project / "reference.csv"), "current": "current.csv"},
                depends_on="batch",
                env_manager="current",
            ),
        ],
    )
    result = run_workflow(workflow, stream_logs=False, live=False)
    assert result.ok, result.steps
    client = open_client(f"sqlite:///{project / '.scanflow' / 'mlflow.db'}")
    tree = run_tree(client, find_workflow_run(client, result.run_id))
    step = next(node for node in tree.walk() if node.name == "drift")
    metrics = step.run.data.metrics
    assert metrics["check.drift"] == 1.0 and metrics["check.features_drifted"] >= 1
    assert metrics["check.p_value"] < 0.05 and metrics["check.feature.income"] > 0.3
    assert step.run.data.params["check.detector"] == "ks"
    assert step.run.data.tags["scanflow.check.verdict"] == "drift"
    artifacts = {a.path for a in client.list_artifacts(step.run.info.run_id, "check")}
    assert artifacts == {"check/report.html", "check/result.json", "check/features.csv"}
    table = client.download_artifacts(step.run.info.run_id, "check/features.csv", str(project))
    with open(table) as handle:
        assert handle.read().splitlines()[1].startswith("1,income,")


def test_fail_on_drift_fails_the_node(project):
    mixed_table(600, seed=0).to_csv(project / "reference.csv", index=False)
    mixed_table(150, seed=1, shift=1.0).to_csv(project / "current.csv", index=False)
    workflow = Workflow(
        "gate",
        nodes=[
            Executor(
                "drift",
                function="scanflow.check.step:check_dataset",
                parameters={
                    "reference": str(project / "reference.csv"),
                    "current": str(project / "current.csv"),
                    "fail_on_drift": True,
                },
                env_manager="current",
            )
        ],
    )
    result = run_workflow(workflow, stream_logs=False, live=False, track=False)
    assert not result.ok
