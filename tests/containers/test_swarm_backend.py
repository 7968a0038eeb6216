"""The Swarm backend against a real single-node swarm (dnsrr + host-mode ports on this machine)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from container_helpers import left_after, lifeline_log, start_sleeping_run, write
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.run.runner import run_workflow
from scanflow.run.status import RunStatus, StepStatus
from scanflow.run.swarm import SwarmBackend, service_statuses
from scanflow.spec import Workflow

pytestmark = pytest.mark.docker


def test_workflow_runs_as_swarm_jobs_and_logs_to_the_tracker_service(swarm_manager, swarm_settings, pipeline):
    backend = SwarmBackend(keep_tracker=True)
    result = run_workflow(pipeline, backend=backend, stream_logs=False)
    try:
        assert result.ok, {k: r.reason for k, r in result.steps.items()}
        assert (result.data_dir / "double.txt").read_text() == "42"
        assert "total 10" in Path(result.steps["train"].log_path).read_text()
        rows = {
            row.kind: row for row in service_statuses(swarm_manager, "pipe") if row.run_id == result.run_id
        }
        assert rows["tracker"].mode == "Replicated" and "running 1/" in rows["tracker"].tasks, rows
        status = CliRunner().invoke(app, ["swarm", "status", "pipe"], env={"COLUMNS": "250"})
        assert status.exit_code == 0 and rows["tracker"].name in status.output
        listed = json.loads(CliRunner().invoke(app, ["swarm", "status", "pipe", "--json"]).stdout)
        tracker = next(row for row in listed if row["name"] == rows["tracker"].name)
        assert (tracker["kind"], tracker["run_id"], tracker["mode"]) == (
            "tracker",
            result.run_id,
            "Replicated",
        )

        from mlflow import MlflowClient

        assert backend.tracker is not None
        train = MlflowClient(backend.tracker.host_uri).get_run(result.steps["train"].mlflow_run_id)
        assert train.data.metrics["total"] == 10 and train.data.metrics["count"] == 5
        assert train.data.tags["scanflow.backend"] == "swarm"
    finally:
        backend.keep_tracker = False
        backend.close()
    assert left_after(swarm_manager, result.run_id) == {"containers": [], "networks": [], "services": []}


def test_a_failing_job_reports_its_exit_code(swarm_manager, swarm_settings, project):
    write(project, "bad.py", "import sys\nprint('failing on purpose')\nsys.exit(4)\n")
    write(project, "after.py", "print('never')\n")
    workflow = Workflow(
        name="swarmfail", nodes=[{"name": "bad", "file": "bad.py"}, {"name": "after", "file": "after.py"}]
    )
    result = run_workflow(workflow, backend="swarm", track=False, stream_logs=False)
    assert result.status is RunStatus.FAILED
    assert result.steps["bad"].exit_code == 4
    assert "failing on purpose" in Path(result.steps["bad"].log_path).read_text()
    assert result.steps["after"].status is StepStatus.SKIPPED
    assert left_after(swarm_manager, result.run_id) == {"containers": [], "networks": [], "services": []}


def test_a_killed_swarm_run_leaves_no_service(swarm_manager, swarm_settings, project):
    process, task = start_sleeping_run(swarm_manager, project, "cutjob", "--backend", "swarm", "--no-track")
    run_id = task.labels["scanflow.run"]
    assert len(swarm_manager.services.list(filters={"label": f"scanflow.run={run_id}"})) == 1
    process.send_signal(signal.SIGKILL)  # Scanflow cannot remove the job: its lifeline does
    process.wait()
    assert left_after(swarm_manager, run_id, timeout=60) == {"containers": [], "networks": [], "services": []}
    assert "removed 1 service(s)" in lifeline_log(project, run_id)


def test_a_step_larger_than_every_node_is_refused_before_anything_starts(
    swarm_manager, swarm_settings, project
):
    write(project, "big.py", "print('never')\n")
    workflow = Workflow(name="huge", nodes=[{"name": "big", "file": "big.py", "resources": {"cpu": 512}}])
    from scanflow.run.capacity import CapacityError

    with pytest.raises(CapacityError, match="no node of the swarm has that much"):
        run_workflow(workflow, backend="swarm", track=False, stream_logs=False)


def test_dnsrr_with_the_routing_mesh_is_refused_with_the_fix(swarm_manager, monkeypatch):
    from scanflow.run.backend import BackendError

    monkeypatch.setenv("SCANFLOW_SWARM_ENDPOINT_MODE", "dnsrr")
    monkeypatch.setenv("SCANFLOW_SWARM_PUBLISH_MODE", "ingress")
    with pytest.raises(BackendError, match="SCANFLOW_SWARM_PUBLISH_MODE=host"):
        SwarmBackend()
