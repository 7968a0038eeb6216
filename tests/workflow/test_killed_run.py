"""A `scanflow run` killed outright (SIGKILL): listed as interrupted, and resumed without twin steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.track.store import open_client

cli = CliRunner()

SLOW = """
import os, sys, time
from pathlib import Path
import mlflow  # so the step's MLflow run is opened as it starts: the kill leaves it "running"
if Path(os.environ["SCANFLOW_WORKFLOW_DIR"], "hang").exists():
    Path(os.environ["SCANFLOW_WORKFLOW_DIR"], "step.pid").write_text(str(os.getpid()))
    time.sleep(120)
print("quick this time")
"""


def wait_for(path: Path, timeout: float = 60) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


def test_a_killed_run_is_listed_as_interrupted_and_its_resume_stops_what_it_left(write, tracking) -> None:
    write("slow.py", SLOW)
    write("hang", "")
    write("wf.yaml", "name: killed\nenv_manager: current\nnodes:\n  - {executor: a, file: slow.py}\n")
    scanflow = subprocess.Popen(
        [sys.executable, "-m", "scanflow.cli", "run", "wf.yaml", "-q", "--tracking-uri", tracking],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        step_pid = int(wait_for(Path("step.pid")))
        [run_id] = [p.name for p in Path(".scanflow/runs").iterdir()]
        deadline = time.time() + 60  # the run reaches MLflow from a background thread
        while not json.loads(cli.invoke(app, ["runs", "--json"]).stdout) and time.time() < deadline:
            time.sleep(0.2)
        busy = cli.invoke(app, ["resume", run_id])
        assert busy.exit_code == 1
        assert f"run {run_id} is still running in process {scanflow.pid}" in " ".join(busy.output.split())
        wiped = cli.invoke(app, ["wipe", "--yes"])
        assert wiped.exit_code == 1
        assert f"still running: {run_id} ('killed', process {scanflow.pid})" in " ".join(wiped.output.split())
        assert Path(".scanflow/runs", run_id, "state.json").exists(), "nothing was deleted"
    finally:
        scanflow.send_signal(signal.SIGKILL)
        scanflow.wait()
    assert psutil.pid_exists(step_pid), "a step process outlives a killed Scanflow (its own session)"

    [listed] = json.loads(cli.invoke(app, ["runs", "--json"]).stdout)
    assert (listed["run_id"], listed["status"]) == (run_id, "interrupted")
    assert json.loads(cli.invoke(app, ["runs", "show", run_id, "--json"]).stdout)["status"] == "interrupted"

    os.remove("hang")
    resumed = cli.invoke(app, ["resume", run_id, "-q"])
    assert resumed.exit_code == 0, resumed.output
    shown = " ".join(resumed.output.split())
    assert f"run {run_id} was interrupted: its Scanflow process ({scanflow.pid}) ended mid-run" in shown
    assert f"stopped what step 'a' left running (process {step_pid})" in shown
    assert not psutil.pid_exists(step_pid) or psutil.Process(step_pid).status() == psutil.STATUS_ZOMBIE
    [listed] = json.loads(cli.invoke(app, ["runs", "--json"]).stdout)
    assert listed["status"] == "succeeded"
    tree = json.loads(cli.invoke(app, ["runs", "show", run_id, "--json"]).stdout)
    [step] = tree["children"]
    assert step["status"] == "done" and len(step["earlier_attempts"]) == 1
    abandoned = open_client(tracking).get_run(step["earlier_attempts"][0])
    assert abandoned.info.status == "KILLED", "the killed attempt's run is closed, not left running"
    assert "Nothing tracked for workflow 'other'" in cli.invoke(app, ["wipe", "other", "--yes"]).output
