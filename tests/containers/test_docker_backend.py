"""The Docker backend against a real engine: runs, tracking, failures, limits, cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from container_helpers import left_after, lifeline_log, run_labels, start_sleeping_run, write
from mlflow import MlflowClient
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.home import Home
from scanflow.run.backend import BackendError
from scanflow.run.docker import DockerBackend
from scanflow.run.runner import resume_run, run_workflow
from scanflow.run.status import RunStatus, StepStatus
from scanflow.run.workflow_tracker import remove_tracker_stores, workflow_tracker_up
from scanflow.spec import Workflow
from scanflow.track.pull import pull_runs
from scanflow.track.store import open_client

pytestmark = pytest.mark.docker


def test_an_unreachable_engine_is_an_error_before_anything_starts(project, monkeypatch):
    pytest.importorskip("docker")
    write(project, "step.py", "print('never')\n")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")  # nothing listens there
    workflow = Workflow(name="nowhere", nodes=[{"name": "step", "file": "step.py"}])
    with pytest.raises(BackendError, match=r"cannot reach the Docker engine at tcp://127.0.0.1:9"):
        run_workflow(workflow, backend="docker", stream_logs=False)
    assert not (project / ".scanflow" / "runs").exists()


def test_workflow_runs_in_containers_and_logs_to_its_tracker(docker_client, pipeline, project, monkeypatch):
    backend = DockerBackend(keep_tracker=True)
    result = run_workflow(pipeline, backend=backend, stream_logs=False)
    try:
        assert result.ok, {k: r.reason for k, r in result.steps.items()}
        assert (result.data_dir / "numbers.txt").read_text() == "0 1 2 3 4"
        assert (result.data_dir / "double.txt").read_text() == "42"
        assert "total 10" in Path(result.steps["train"].log_path).read_text()
        assert "doubled 21" in Path(result.steps["double"].log_path).read_text()
        assert backend.tracker is not None
        assert backend.tracker.network_uri == "http://tracker-pipe:5000"

        client = MlflowClient(backend.tracker.host_uri)
        train = client.get_run(result.steps["train"].mlflow_run_id)
        assert train.data.metrics["total"] == 10  # scanflow.log_metric, uploaded by the host
        assert train.data.metrics["count"] == 5  # mlflow.log_metric from inside the container
        double = client.get_run(result.steps["double"].mlflow_run_id)
        assert double.data.metrics["double"] == 42
        assert double.data.tags["scanflow.backend"] == "docker"
    finally:
        backend.keep_tracker = False
        backend.close()
    left = run_labels(docker_client, result.run_id)
    assert left["containers"] == [] and left["networks"] == []
    assert docker_client.volumes.get("scanflow-pipe-tracker")  # the tracker's store outlives the run

    with workflow_tracker_up(docker_client, "pipe", lambda _: None) as tracker:
        first = pull_runs(tracker, Home.resolve(), "pipe")  # what `scanflow runs pull pipe` does
        again = pull_runs(tracker, Home.resolve(), "pipe")
    assert first.copied == 4 and (again.copied, again.skipped) == (0, 4)  # a workflow run and 3 steps
    local = MlflowClient(Home.resolve().tracking_uri())
    experiment = local.get_experiment_by_name("pipe").experiment_id
    runs = {r.data.tags["scanflow.pulled_from"]: r for r in local.search_runs([experiment])}
    train = runs[result.steps["train"].mlflow_run_id]
    assert train.data.metrics == {"total": 10, "count": 5}
    assert train.data.tags["mlflow.parentRunId"] == runs[result.mlflow_run_id].info.run_id

    elsewhere = project / "another-project"  # a project that tracked nothing locally
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    wiped = CliRunner().invoke(app, ["wipe", "pipe", "--yes"], env={"COLUMNS": "200"})
    assert wiped.exit_code == 0 and "scanflow-pipe-tracker" in wiped.output, wiped.output
    assert not docker_client.volumes.list(filters={"name": "scanflow-pipe-tracker"})


def test_steps_log_to_a_shared_https_server_as_the_user(docker_client, pipeline, as_guarded_admin):
    """A server off loopback behind a password and a company CA: steps in containers log to it
    themselves, so they need the user's credentials and CA bundle, which only the host has."""
    server, _ = as_guarded_admin
    result = run_workflow(pipeline, backend="docker", tracking_uri=server.uri, stream_logs=False)
    assert result.ok, {k: Path(r.log_path).read_text()[-600:] for k, r in result.steps.items()}
    train = open_client(server.uri).get_run(result.steps["train"].mlflow_run_id)
    assert train.data.metrics == {"total": 10, "count": 5}, "count: logged by MLflow inside the container"
    assert not docker_client.volumes.list(filters={"name": "scanflow-pipe-tracker"}), "no tracker of its own"


def test_pulling_a_workflow_never_run_in_containers_says_so(docker_client):
    pulled = CliRunner().invoke(app, ["runs", "pull", "never-ran-here"], env={"COLUMNS": "200"})
    assert pulled.exit_code == 1
    assert "has no tracker store" in pulled.output and "--backend docker" in pulled.output


def test_a_failing_step_fails_the_run_and_skips_what_depends_on_it(docker_client, project):
    write(project, "bad.py", "import sys\nprint('about to fail')\nsys.exit(3)\n")
    write(project, "after.py", "print('never runs')\n")
    workflow = Workflow(
        name="failing",
        nodes=[{"name": "bad", "file": "bad.py"}, {"name": "after", "file": "after.py"}],
    )
    result = run_workflow(workflow, backend="docker", track=False, stream_logs=False)
    assert result.status is RunStatus.FAILED
    bad = result.steps["bad"]
    assert bad.status is StepStatus.FAILED and bad.exit_code == 3
    assert "about to fail" in Path(bad.log_path).read_text()
    assert result.steps["after"].status is StepStatus.SKIPPED
    assert run_labels(docker_client, result.run_id)["containers"] == []


def test_a_step_over_its_memory_limit_is_reported_as_oom(docker_client, project):
    write(project, "hog.py", "block = bytearray(400 * 1024 * 1024)\nprint('survived')\n")
    workflow = Workflow(
        name="hungry", nodes=[{"name": "hog", "file": "hog.py", "resources": {"memory": "64Mi"}}]
    )
    result = run_workflow(workflow, backend="docker", track=False, stream_logs=False)
    hog = result.steps["hog"]
    assert hog.status is StepStatus.FAILED
    assert "out of memory" in hog.reason and "64Mi" in hog.reason


def test_resources_become_container_limits(docker_client, project):
    write(
        project,
        "limits.py",
        """\
        from pathlib import Path
        def read(*names):
            for name in names:
                path = Path("/sys/fs/cgroup") / name
                if path.exists():
                    return path.read_text().strip()
        print("cpu", read("cpu.max", "cpu/cpu.cfs_quota_us", "cpu,cpuacct/cpu.cfs_quota_us"))
        print("memory", read("memory.max", "memory/memory.limit_in_bytes"))
        """,
    )
    workflow = Workflow(
        name="limited",
        nodes=[{"name": "limits", "file": "limits.py", "resources": {"cpu": 0.5, "memory": "96Mi"}}],
    )
    result = run_workflow(workflow, backend="docker", track=False, stream_logs=False)
    assert result.ok
    log = Path(result.steps["limits"].log_path).read_text()
    assert f"memory {96 * 1024 * 1024}" in log
    assert "cpu 50000" in log  # half of a 100000 µs period, in cgroup v1 and v2 notation


def test_ctrl_c_stops_every_container_and_removes_the_network(docker_client, project):
    write(project, "slow.py", "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n")
    write(
        project,
        "wf.yaml",
        "name: patient\nparallel: true\nnodes:\n"
        "  - {executor: a, file: slow.py}\n  - {executor: b, file: slow.py}\n",
    )
    command = [sys.executable, "-m", "scanflow.cli", "run", "wf.yaml", "--backend", "docker", "--no-track"]
    process = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    selected = {"label": ["scanflow.workflow=patient", "scanflow.kind=step"]}
    deadline = time.time() + 120
    while time.time() < deadline and len(docker_client.containers.list(filters=selected)) < 2:
        time.sleep(0.2)
    running = docker_client.containers.list(filters=selected)
    assert len(running) == 2, process.stdout.read().decode() if process.poll() is not None else "timeout"
    run_id = running[0].labels["scanflow.run"]
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=180)[0].decode()  # generous: CI machines can be busy
    assert process.returncode == 130, output
    left = run_labels(docker_client, run_id)
    assert left["containers"] == [] and left["networks"] == [], output


def test_resuming_a_killed_run_removes_the_containers_it_left(docker_client, project):
    process, orphan = start_sleeping_run(
        docker_client, project, "orphaned", "--backend", "docker", "--no-track"
    )
    for child in psutil.Process(process.pid).children():  # its lifeline too: no one left to stop it
        if "scanflow.run.lifeline" in child.cmdline():
            child.kill()
    process.send_signal(signal.SIGKILL)
    process.wait()
    run_id = orphan.labels["scanflow.run"]
    orphan.reload()
    assert orphan.status == "running", "nothing stopped the step's container"

    write(project, "step.py", "print('done')\n")  # the fix, baked into a new image
    result = resume_run(run_id, track=False, stream_logs=False)
    assert result.ok, {k: r.reason for k, r in result.steps.items()}
    assert "done" in Path(result.steps["a"].log_path).read_text()
    left = run_labels(docker_client, run_id)
    assert left["containers"] == [] and left["networks"] == []


def test_a_killed_docker_run_leaves_no_container_network_or_volume(docker_client, project, tracking):
    process, step = start_sleeping_run(
        docker_client, project, "cut", "--backend", "docker", "--tracking-uri", tracking
    )
    run_id = step.labels["scanflow.run"]
    kinds = {
        c.labels.get("scanflow.kind")
        for c in docker_client.containers.list(filters={"label": f"scanflow.run={run_id}"})
    }
    assert kinds == {"step", "tracker"}, kinds
    process.send_signal(signal.SIGKILL)  # Scanflow cannot stop anything: its lifeline does
    process.wait()
    assert left_after(docker_client, run_id, timeout=60) == {"containers": [], "networks": [], "services": []}
    assert "removed 2 container(s)" in lifeline_log(project, run_id)
    assert docker_client.volumes.list(filters={"label": [f"scanflow.run={run_id}"]}) == []
    assert remove_tracker_stores(docker_client, "cut"), "the workflow's tracked runs are kept"


def test_two_runs_of_one_workflow_at_once_do_not_collide(docker_client, project):
    write(project, "nap.py", "import time, os\ntime.sleep(2)\nprint('run', os.environ['SCANFLOW_RUN_ID'])\n")
    workflow = Workflow(name="twins", nodes=[{"name": "nap", "file": "nap.py"}])
    workflow.base_dir = project
    results = []

    def run() -> None:
        results.append(run_workflow(workflow, backend="docker", track=False, stream_logs=False))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert len(results) == 2 and all(r.ok for r in results), [r.steps for r in results]
    assert results[0].run_id != results[1].run_id
    for result in results:
        assert f"run {result.run_id}" in Path(result.steps["nap"].log_path).read_text()


def test_a_timeout_stops_the_container(docker_client, project):
    write(project, "forever.py", "import time\ntime.sleep(300)\n")
    workflow = Workflow(name="slowpoke", nodes=[{"name": "forever", "file": "forever.py", "timeout": "2s"}])
    started = time.time()
    result = run_workflow(workflow, backend=DockerBackend(grace=1), track=False, stream_logs=False)
    assert result.steps["forever"].status is StepStatus.FAILED
    assert "timed out after 2s" in result.steps["forever"].reason
    assert time.time() - started < 60
    assert run_labels(docker_client, result.run_id)["containers"] == []


def test_steps_run_as_a_non_root_user(docker_client, project):
    write(project, "who.py", "import os\nprint('uid', os.getuid())\n")
    workflow = Workflow(name="whoami", nodes=[{"name": "who", "file": "who.py"}])
    result = run_workflow(workflow, backend="docker", track=False, stream_logs=False)
    assert result.ok
    uid = int(Path(result.steps["who"].log_path).read_text().split()[-1])
    assert uid != 0 and uid == (10001 if os.getuid() == 0 else os.getuid())
