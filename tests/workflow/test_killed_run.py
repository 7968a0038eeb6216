"""A `scanflow run` killed outright (SIGKILL): its steps stopped by its lifeline, listed as
interrupted, and resumed without twin steps even when the lifeline was killed too."""

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


def lifeline_of(pid: int) -> psutil.Process:
    """The watcher a run's process started (``scanflow.run.lifeline``)."""
    deadline = time.time() + 30
    while time.time() < deadline:
        for child in psutil.Process(pid).children():
            if "scanflow.run.lifeline" in child.cmdline():
                return child
        time.sleep(0.1)
    raise AssertionError(f"process {pid} started no lifeline")


def start_run(write, tracking: str, workflow: str, script: str) -> subprocess.Popen:
    """`scanflow run` in a process of its own, of one step running ``script``."""
    write("step.py", script)
    write("wf.yaml", f"name: {workflow}\nenv_manager: current\nnodes:\n  - {{executor: a, file: step.py}}\n")
    return subprocess.Popen(
        [sys.executable, "-m", "scanflow.cli", "run", "wf.yaml", "-q", "--tracking-uri", tracking],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_slow_run(write, tracking: str) -> tuple[subprocess.Popen, int, str]:
    """A run of one step that hangs; returns Scanflow's process, the step's pid and the run id."""
    write("hang", "")
    scanflow = start_run(write, tracking, "killed", SLOW)
    step_pid = int(wait_for(Path("step.pid")))
    [run_id] = [p.name for p in Path(".scanflow/runs").iterdir()]
    return scanflow, step_pid, run_id


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_the_lifeline_of_a_killed_run_stops_its_steps_at_once(write, tracking) -> None:
    scanflow, step_pid, run_id = start_slow_run(write, tracking)
    lifeline_of(scanflow.pid)
    scanflow.send_signal(signal.SIGKILL)
    scanflow.wait()
    deadline = time.time() + 20
    while not gone(step_pid) and time.time() < deadline:
        time.sleep(0.1)
    assert gone(step_pid), "the step went on after Scanflow was killed"
    log = Path(".scanflow/runs", run_id, "lifeline.log").read_text()
    assert f"the run's Scanflow process ended mid-run; stopped process {step_pid}" in log

    [listed] = json.loads(cli.invoke(app, ["runs", "--json"]).stdout)
    assert (listed["run_id"], listed["status"]) == (run_id, "interrupted")
    shown = " ".join(cli.invoke(app, ["runs", "show", run_id]).output.split())
    assert f"ended mid-run; stopped process {step_pid}" in shown, "runs show says what the lifeline did"
    os.remove("hang")
    resumed = cli.invoke(app, ["resume", run_id, "-q"])
    assert resumed.exit_code == 0, resumed.output
    assert "left running" not in resumed.output, "the lifeline left nothing to stop"
    assert json.loads(cli.invoke(app, ["runs", "--json"]).stdout)[0]["status"] == "succeeded"


def test_a_run_that_ends_leaves_its_lifeline_nothing_to_do(write, tracking) -> None:
    scanflow = start_run(write, tracking, "quick", "print('quick')\n")
    lifeline = lifeline_of(scanflow.pid)
    assert scanflow.wait(timeout=120) == 0
    lifeline.wait(timeout=10)  # raises if the lifeline outlives the run
    [run_id] = [p.name for p in Path(".scanflow/runs").iterdir()]
    assert not Path(".scanflow/runs", run_id, "lifeline.log").exists()


def test_a_run_killed_with_its_lifeline_is_listed_as_interrupted_and_its_resume_stops_what_it_left(
    write, tracking
) -> None:
    scanflow, step_pid, run_id = start_slow_run(write, tracking)
    try:
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
        lifeline_of(scanflow.pid).kill()  # everything killed at once, e.g. a whole container
        scanflow.send_signal(signal.SIGKILL)
        scanflow.wait()
    time.sleep(1)
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
    assert gone(step_pid)
    [listed] = json.loads(cli.invoke(app, ["runs", "--json"]).stdout)
    assert listed["status"] == "succeeded"
    tree = json.loads(cli.invoke(app, ["runs", "show", run_id, "--json"]).stdout)
    [step] = tree["children"]
    assert step["status"] == "done" and len(step["earlier_attempts"]) == 1
    abandoned = open_client(tracking).get_run(step["earlier_attempts"][0])
    assert abandoned.info.status == "KILLED", "the killed attempt's run is closed, not left running"
    assert "Nothing tracked for workflow 'other'" in cli.invoke(app, ["wipe", "other", "--yes"]).output


LOGS_THEN_HANGS = """
import os, time
from pathlib import Path
import scanflow
hang = Path(os.environ["SCANFLOW_WORKFLOW_DIR"], "hang").exists()
scanflow.log_param("attempt", "killed" if hang else "rerun")
for value in ([1, 2, 3] if hang else [10, 20]):
    scanflow.log_metric("loss", value)
if hang:
    Path(os.environ["SCANFLOW_WORKFLOW_DIR"], "step.pid").write_text(str(os.getpid()))
    time.sleep(120)
"""


def test_what_a_killed_attempt_logged_stays_with_it_and_the_rerun_logs_afresh(write, tracking) -> None:
    write("hang", "")
    scanflow = start_run(write, tracking, "relog", LOGS_THEN_HANGS)
    wait_for(Path("step.pid"))
    scanflow.send_signal(signal.SIGKILL)  # before the recorder uploaded anything of the step
    scanflow.wait()
    [run_id] = [p.name for p in Path(".scanflow/runs").iterdir()]
    os.remove("hang")
    resumed = cli.invoke(app, ["resume", run_id, "-q"])
    assert resumed.exit_code == 0, resumed.output

    tree = json.loads(cli.invoke(app, ["runs", "show", run_id, "--json"]).stdout)
    [step] = tree["children"]
    client = open_client(tracking)
    rerun = client.get_run(step["mlflow_run_id"])
    assert rerun.data.params["attempt"] == "rerun"
    assert [m.value for m in client.get_metric_history(rerun.info.run_id, "loss")] == [10, 20]
    [killed_id] = step["earlier_attempts"]
    killed = client.get_run(killed_id)
    assert killed.info.status == "KILLED" and killed.data.params["attempt"] == "killed"
    assert [m.value for m in client.get_metric_history(killed_id, "loss")] == [1, 2, 3]
