"""Every workflow run lands in MLflow: nested runs, parameters, metrics, logs, artifacts; wipe."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from tracker_server import free_port, self_signed, start_tracker, tracker_up, wait_http

from scanflow import Executor, RunFailed, Workflow
from scanflow.home import Home
from scanflow.track.query import find_workflow_run, list_workflow_runs, run_tree
from scanflow.track.store import TrackingError, open_client
from scanflow.track.wipe import ModelsWouldBreak, wipe

from .runs import quiet_console, resume, run

HELPERS_STEP = """
import scanflow
print("preparing")
scanflow.log_param("rows", 12)
for step, loss in enumerate([0.9, 0.5, 0.2]):
    scanflow.log_metric("loss", loss, step=step)
open("report.txt", "w").write("a report")
scanflow.log_artifact("report.txt", "reports")
scanflow.set_tag("stage", "prep")
open("features.csv", "w").write("a,b\\n1,2\\n")
"""

MLFLOW_STEP = """
import mlflow
mlflow.log_metric("accuracy", 0.93)
mlflow.log_param("model", "svm")
"""


def tracked_workflow() -> Workflow:
    return Workflow(
        "tracked",
        env_manager="current",
        nodes=[
            Executor("prepare", file="prepare.py", parameters={"limit": 5}, outputs=["features.csv"]),
            Workflow(
                "train",
                parallel=True,
                nodes=[
                    Executor("svm", file="train_svm.py"),
                    Executor("score", function="steps:score", parameters={"factor": 2}),
                ],
            ),
            Executor("broken", file="broken.py", depends_on=["train"]),
            Executor("after", file="prepare.py", depends_on=["broken"]),
        ],
    )


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, _mlflow_db_template):
    """One tracked run shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("tracked")
    (folder / "prepare.py").write_text(HELPERS_STEP)
    (folder / "train_svm.py").write_text(MLFLOW_STEP)
    (folder / "steps.py").write_text(
        "import numpy\n"
        "def score(factor):\n"
        "    return {'score': 0.5 * factor, 'rounds': numpy.int64(3), 'note': 'ignored', 'model': object()}\n"
    )
    (folder / "broken.py").write_text("import sys; print('oops'); sys.exit(4)\n")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    workflow = tracked_workflow()
    workflow.base_dir = folder
    result = run(workflow, track=True, tracking_uri=uri, home=folder / ".scanflow")
    return result, open_client(uri)


def test_runs_nest_workflow_then_nested_workflow_then_steps(tracked) -> None:
    result, client = tracked
    experiment = client.get_experiment_by_name("tracked")
    assert experiment is not None
    root = client.get_run(result.mlflow_run_id)
    assert (
        root.data.tags["scanflow.kind"] == "workflow" and root.data.tags["scanflow.run_id"] == result.run_id
    )
    assert root.info.status == "FAILED" and root.data.tags["scanflow.status"] == "failed"

    tree = run_tree(client, root)
    by_name = {node.name: node for node in tree.walk()}
    assert [c.name for c in tree.children] == ["prepare", "train", "broken", "after"]
    train = by_name["train"]
    assert train.kind == "nested" and sorted(c.name for c in train.children) == ["score", "svm"]
    assert train.run.info.status == "FINISHED"
    for node in (by_name["svm"], by_name["score"]):
        assert node.run.data.tags["mlflow.parentRunId"] == train.run.info.run_id


def test_step_runs_hold_params_metrics_tags_logs_and_outputs(tracked) -> None:
    result, client = tracked
    runs = {n.name: n.run for n in run_tree(client, client.get_run(result.mlflow_run_id)).walk()}
    prepare = runs["prepare"]
    assert prepare.data.params == {"limit": "5", "rows": "12"}
    assert [m.value for m in client.get_metric_history(prepare.info.run_id, "loss")] == [0.9, 0.5, 0.2]
    assert prepare.data.tags["stage"] == "prep" and prepare.data.tags["scanflow.node"] == "prepare"
    assert prepare.data.tags["scanflow.status"] == "done" and prepare.data.tags["scanflow.exit_code"] == "0"
    assert prepare.data.tags["scanflow.env_hash"] == "current"
    artifacts = {a.path for a in client.list_artifacts(prepare.info.run_id)}
    assert artifacts == {"logs", "outputs", "reports"}
    assert [a.path for a in client.list_artifacts(prepare.info.run_id, "outputs")] == ["outputs/features.csv"]
    log = Path(client.download_artifacts(prepare.info.run_id, "logs/prepare.log"))
    assert log.read_text() == "preparing\n"
    assert "logs" not in {a.path for a in client.list_artifacts(runs["score"].info.run_id)}, "no empty logs"

    assert runs["svm"].data.metrics["accuracy"] == 0.93, "plain mlflow.log_metric lands in the step's run"
    assert runs["svm"].data.params["model"] == "svm"
    assert runs["score"].data.metrics["score"] == 1.0, "a function's returned numbers become metrics"
    assert runs["score"].data.metrics["rounds"] == 3.0, "NumPy numbers too, beside values that are none"
    assert runs["score"].data.params == {"factor": "2"}


def test_failed_and_skipped_steps_are_recorded(tracked) -> None:
    result, client = tracked
    runs = {n.name: n.run for n in run_tree(client, client.get_run(result.mlflow_run_id)).walk()}
    broken = runs["broken"]
    assert broken.info.status == "FAILED"
    assert (
        broken.data.tags["scanflow.exit_code"] == "4" and broken.data.tags["scanflow.reason"] == "exit code 4"
    )
    log_dir = client.download_artifacts(broken.info.run_id, "logs")
    assert "oops" in next(Path(log_dir).iterdir()).read_text()
    assert runs["after"].info.status == "KILLED" and runs["after"].data.tags["scanflow.status"] == "skipped"

    from typer.testing import CliRunner

    from scanflow.cli import app

    uri = str(client.tracking_uri)
    shown = CliRunner().invoke(
        app, ["runs", "show", result.run_id, "--tracking-uri", uri], env={"COLUMNS": "200"}
    )
    lines = {line.split()[1]: line for line in shown.output.splitlines() if "──" in line}
    assert "failed" in lines["broken"] and "exit code 4" in lines["broken"], "why, beside the step"
    assert "upstream step 'broken' failed" in lines["after"]


def test_a_run_result_reads_its_metrics_and_logs_and_raises_for_failures(tracked) -> None:
    result, _client = tracked
    metrics = result.metrics()
    assert metrics["train/svm"] == {"accuracy": 0.93} and metrics["prepare"]["loss"] == 0.2
    assert metrics["train/score"] == {"score": 1.0, "rounds": 3.0}
    assert result.log("prepare") == "preparing\n" and "oops" in result.log("broken")
    with pytest.raises(LookupError, match="no step 'prepar' \\(did you mean 'prepare'\\?\\)"):
        result.log("prepar")
    with pytest.raises(RunFailed) as caught:
        result.raise_for_status()
    message = str(caught.value)
    assert "broken: exit code 4" in message and f"scanflow resume {result.run_id}" in message
    assert caught.value.result is result


def test_runs_are_listed_and_found_by_scanflow_id(tracked) -> None:
    result, client = tracked
    listed = list_workflow_runs(client)
    assert [r.data.tags["scanflow.run_id"] for r in listed] == [result.run_id]
    assert find_workflow_run(client, result.run_id[:15]).info.run_id == result.mlflow_run_id
    assert find_workflow_run(client, result.mlflow_run_id).info.run_id == result.mlflow_run_id
    with pytest.raises(LookupError):
        find_workflow_run(client, "nope")


def test_wipe_one_workflow_keeps_the_others(write, tracking) -> None:
    write("a.py", "import scanflow; open('out.txt','w').write('x'); scanflow.log_metric('m', 1)\n")
    for name in ("keep", "drop"):
        run(
            Workflow(name, env_manager="current", nodes=[Executor("a", file="a.py", outputs=["out.txt"])]),
            track=True,
        )
    home = Home.resolve()
    report = wipe(home, tracking, "drop")
    assert report.experiments == ["drop"] and report.runs == 2 and report.local_runs == 1
    client = open_client(tracking)
    assert client.get_experiment_by_name("drop") is None
    assert client.get_experiment_by_name("keep") is not None
    assert not (home.artifacts_dir / "drop").exists() and (home.artifacts_dir / "keep").exists()
    assert [r.data.tags["scanflow.workflow"] for r in list_workflow_runs(client)] == ["keep"]

    wipe(home, tracking)
    assert not home.mlflow_db.exists() and not home.runs_dir.exists() and not home.artifacts_dir.exists()


def test_an_unreachable_tracking_server_fails_before_anything_runs(write, project) -> None:
    write("a.py", "open('ran', 'w')\n")
    port = free_port()
    with pytest.raises(TrackingError, match=f"cannot reach the MLflow server at http://127.0.0.1:{port}"):
        run(
            Workflow("w", env_manager="current", nodes=[Executor("a", file="a.py")]),
            track=True,
            tracking_uri=f"http://127.0.0.1:{port}",
        )
    assert not (project / ".scanflow" / "runs").exists()


def test_tracker_up_serves_the_embedded_store(write, tracking) -> None:
    write("a.py", "print('hi')\n")
    run(Workflow("served", env_manager="current", nodes=[Executor("a", file="a.py")]), track=True)
    port = free_port()
    server = start_tracker(port=port)
    try:
        uri = f"http://127.0.0.1:{port}"
        wait_http(f"{uri}/health", server)
        client = open_client(uri)
        assert client.get_experiment_by_name("served") is not None
        [listed] = list_workflow_runs(client, "served")
        assert listed.data.tags["scanflow.status"] == "succeeded"
        # The server is a real tracking URI: a workflow can log to it.
        result = run(
            Workflow("remote", env_manager="current", nodes=[Executor("a", file="a.py")]),
            track=True,
            tracking_uri=uri,
        )
        assert client.get_run(result.mlflow_run_id).info.status == "FINISHED"
    finally:
        mlflow_server = psutil.Process(server.pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in mlflow_server]
        server.kill()  # outright: its lifeline stops the MLflow server and what that started
        output = server.communicate(timeout=30)[0].decode()
    assert f"MLflow UI and API ready on http://127.0.0.1:{port}" in output, "said once it answers"
    psutil.wait_procs(mlflow_server, timeout=20)
    assert mlflow_server, "the MLflow server runs in processes of its own"
    assert not [c for c in commands if "huey" in c], "no job runner unless --jobs"
    assert not [p.pid for p in mlflow_server if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_tracker_up_with_basic_auth_over_https_lets_in_only_its_users(
    write, tracking, project, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from scanflow.cli import app

    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    for password in (None, "too-short"):  # MLflow wants 12 characters or more
        if password:
            monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", password)
        first = CliRunner().invoke(app, ["tracker", "up", "--auth", "basic"])
        assert first.exit_code == 1
        shown = " ".join(first.output.split())
        assert "creates the admin user 'admin': set MLFLOW_AUTH_ADMIN_PASSWORD to its password (12" in shown
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD")
    cert, key = self_signed(project)
    half = CliRunner().invoke(app, ["tracker", "up", "--tls-cert", str(cert)])
    assert half.exit_code == 2 and "needs both --tls-cert and --tls-key" in " ".join(half.output.split())
    missing = CliRunner().invoke(app, ["tracker", "up", "--tls-cert", str(cert), "--tls-key", "nokey.pem"])
    assert missing.exit_code == 1 and "--tls-key nokey.pem: no such readable file" in missing.output
    (project / "other").mkdir()
    other_key = self_signed(project / "other")[1]  # a key, but not the certificate's
    mismatch = CliRunner().invoke(
        app, ["tracker", "up", "--tls-cert", str(cert), "--tls-key", str(other_key)]
    )
    assert mismatch.exit_code == 1 and "KEY_VALUES_MISMATCH" in mismatch.output, mismatch.output

    write("a.py", "import scanflow\nscanflow.log_metric('m', 1)\n")
    workflow = Workflow("guarded", env_manager="current", nodes=[Executor("a", file="a.py")])
    options = ("--auth", "basic", "--tls-cert", str(cert), "--tls-key", str(key))
    with tracker_up(*options, cafile=cert, MLFLOW_AUTH_ADMIN_PASSWORD="a-long-admin-secret") as uri:
        assert uri.startswith("https://")
        monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH", raising=False)
        with pytest.raises(TrackingError, match="certificate this machine does not trust"):
            run(workflow, track=True, tracking_uri=uri)
        monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(cert))  # how MLflow's client trusts it
        with pytest.raises(TrackingError, match="credentials are needed. Set MLFLOW_TRACKING_USERNAME"):
            run(workflow, track=True, tracking_uri=uri)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password")
        with pytest.raises(TrackingError, match="credentials were refused"):
            run(workflow, track=True, tracking_uri=uri)
        assert not Path(".scanflow/runs").exists(), "refused before anything ran"
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "a-long-admin-secret")
        console = quiet_console()
        result = run(workflow, track=True, tracking_uri=uri, console=console)
        assert result.ok and not result.warnings
        step = open_client(uri).get_run(result.steps["a"].mlflow_run_id)
        assert step.data.metrics["m"] == 1
        page = f"MLflow: {uri}/#/experiments/{step.info.experiment_id}/runs/{result.mlflow_run_id}"
        assert page in console.file.getvalue(), "the run ends with a link to its page"
    assert (Path(".scanflow") / "basic_auth.db").is_file(), "the users live in the project folder"


def test_metrics_of_a_running_step_reach_mlflow_while_it_runs(write, tracking, monkeypatch) -> None:
    import threading

    from scanflow.track import recorder

    monkeypatch.setattr(recorder, "STREAM_EVERY", 0.2)
    write(
        "long.py",
        """
        import os, time
        from pathlib import Path
        import scanflow
        scanflow.log_metric("progress", 0.5, step=1)
        release = Path(os.environ["SCANFLOW_WORKFLOW_DIR"], "release")
        while not release.exists():
            time.sleep(0.05)
        scanflow.log_metric("progress", 1.0, step=2)
        """,
    )
    finished = {}
    worker = threading.Thread(
        target=lambda: finished.update(
            result=run(
                Workflow("live", env_manager="current", nodes=[Executor("long", file="long.py")]), track=True
            )
        )
    )
    worker.start()
    client = None
    try:
        deadline = time.time() + 60
        seen = []
        while time.time() < deadline and not seen:
            time.sleep(0.2)
            if client is None and Path(".scanflow/mlflow.db").exists():
                client = open_client(tracking)
            experiment = client.get_experiment_by_name("live") if client else None
            if experiment:
                steps = client.search_runs([experiment.experiment_id], "tags.`scanflow.node` = 'long'")
                seen = [r for r in steps if "progress" in r.data.metrics]
        assert seen, "a running step's metric must reach MLflow before the step ends"
        assert seen[0].info.status == "RUNNING" and seen[0].data.metrics["progress"] == 0.5
    finally:
        Path("release").write_text("")
        worker.join(timeout=60)
    result = finished["result"]
    step_run = client.get_run(result.steps["long"].mlflow_run_id)
    assert step_run.info.run_id == seen[0].info.run_id, "the streamed run is the step's run"
    assert step_run.info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(step_run.info.run_id, "progress")] == [0.5, 1.0]


def test_a_step_logging_to_mlflow_has_the_start_and_duration_it_ran_with(write, tracking) -> None:
    write("slow.py", "import time\ntime.sleep(2)\n")
    write("logs.py", "import time, mlflow\nmlflow.log_metric('m', 1)\ntime.sleep(0.5)\n")
    workflow = Workflow(
        "timed",
        env_manager="current",
        nodes=[Executor("slow", file="slow.py"), Executor("logs", file="logs.py", depends_on=["slow"])],
    )
    result = run(workflow, track=True)
    client = open_client(tracking)
    slow, logs = (client.get_run(result.steps[k].mlflow_run_id).info for k in ("slow", "logs"))
    record = result.steps["logs"]
    assert logs.start_time >= slow.end_time - 50, "it starts with the step, not the run"
    assert abs(logs.start_time / 1000 - record.started_at) < 1.0
    assert abs((logs.end_time - logs.start_time) / 1000 - record.duration) < 1.0


def test_a_first_step_logging_to_mlflow_is_not_charged_for_the_trackers_start(write, tracking) -> None:
    write(
        "logs.py",
        """
        import time
        started = time.time()
        import json, mlflow
        mlflow.log_metric("m", 1)
        json.dump([started, time.time()], open("own-time.json", "w"))
        """,
    )
    write("wf.yaml", "name: first-logs\nenv_manager: current\nnodes: [{executor: logs, file: logs.py}]\n")
    # A new process, as a person runs it: MLflow is imported and the store opened while steps start.
    command = [sys.executable, "-m", "scanflow.cli", "run", "wf.yaml", "-q", "--tracking-uri", tracking]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    [folder] = Path(".scanflow/runs").iterdir()
    record = json.loads((folder / "state.json").read_text())["steps"]["logs"]
    started, _ = json.loads((folder / "data" / "own-time.json").read_text())
    # The interpreter's start-up comes before the script's first line; the tracker's start may not.
    assert started - record["started_at"] < 0.5, "the step's time starts when its process does"


CREATE_AND_USE = """
import sys
from scanflow.track.store import open_client
client = open_client(sys.argv[1])
client.create_experiment(sys.argv[2])
print(len(client.search_experiments()))
"""


def test_several_first_runs_at_once_make_one_usable_store(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # a new project: no tables yet
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE_AND_USE, uri, f"workflow-{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    outcomes = [process.communicate(timeout=120) for process in starters]
    assert [p.returncode for p in starters] == [0] * 4, [err[-800:] for _out, err in outcomes]
    names = {e.name for e in open_client(uri).search_experiments()}
    assert {f"workflow-{n}" for n in range(4)} <= names


def test_a_migration_stopped_midway_is_settled_before_the_store_is_used(
    tmp_path, _mlflow_db_template
) -> None:
    import sqlite3

    database = tmp_path / "mlflow.db"
    with sqlite3.connect(_mlflow_db_template) as source, sqlite3.connect(database) as copy:
        source.backup(copy)
    uri = f"sqlite:///{database}"
    open_client(uri).create_experiment("kept")
    with sqlite3.connect(database) as connection:  # as a killed migration leaves it
        connection.execute("PRAGMA user_version = 0")
        connection.execute("CREATE TABLE _alembic_tmp_runs AS SELECT * FROM runs")
        connection.execute("ALTER TABLE experiments RENAME TO _alembic_tmp_experiments")
    check = subprocess.run(
        [sys.executable, "-c", CREATE_AND_USE, uri, "after"], capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stderr[-800:]
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert not any(t.startswith("_alembic_tmp_") for t in tables)
    assert {"kept", "after"} <= {e.name for e in open_client(uri).search_experiments()}, "no experiment lost"


def test_a_resumed_step_logs_to_a_run_of_its_own_not_on_top_of_the_failed_one(write, tracking) -> None:
    write(
        "flaky.py",
        """
        import os, sys
        from pathlib import Path
        import scanflow
        broken = Path(os.environ["SCANFLOW_WORKFLOW_DIR"], "broken").exists()
        scanflow.log_param("attempt", "first" if broken else "resumed")
        for step, value in enumerate([5, 4] if broken else [3, 2, 1]):
            scanflow.log_metric("loss", value, step=step)
        sys.exit(1 if broken else 0)
        """,
    )
    write("broken", "")
    workflow = Workflow("flaky", env_manager="current", nodes=[Executor("a", file="flaky.py")])
    first = run(workflow, track=True, tracking_uri=tracking)
    assert not first.ok
    Path("broken").unlink()
    resumed = resume(first.run_id, track=True, tracking_uri=tracking)
    assert resumed.ok
    client = open_client(tracking)
    failed_run, resumed_run = (r.steps["a"].mlflow_run_id for r in (first, resumed))
    assert failed_run != resumed_run
    history = {
        run_id: [m.value for m in client.get_metric_history(run_id, "loss")]
        for run_id in (failed_run, resumed_run)
    }
    assert history == {failed_run: [5, 4], resumed_run: [3, 2, 1]}
    assert client.get_run(resumed_run).data.params["attempt"] == "resumed"


def test_logging_outside_a_step_goes_to_the_projects_store(write, project) -> None:
    """In a notebook or script of the project: where `scanflow runs` and `tracker up` look, not into
    an mlflow.db and mlruns/ of MLflow's own in the working directory."""
    write("plot.txt", "a plot\n")
    code = (
        "import scanflow, mlflow\n"
        "scanflow.log_metric('accuracy', 0.9)\n"
        "scanflow.log_artifact('plot.txt')\n"
        "print(mlflow.active_run().info.run_id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    logged = open_client(Home.resolve(project / ".scanflow").embedded_tracking_uri).get_run(
        done.stdout.split()[-1]
    )
    assert logged.data.metrics == {"accuracy": 0.9}
    assert not (project / "mlflow.db").exists() and not (project / "mlruns").exists()
    assert list((project / ".scanflow" / "artifacts").glob("*/*/artifacts/plot.txt"))


def test_wiping_runs_that_registered_a_model_deletes_its_versions_only_when_asked(write, tracking) -> None:
    write(
        "train.py",
        "import mlflow, os\n"
        "from mlflow import MlflowClient\n"
        "from sklearn.dummy import DummyClassifier\n"
        "model = DummyClassifier().fit([[0], [1]], [0, 1])\n"
        "with mlflow.start_run(run_id=os.environ['MLFLOW_RUN_ID']):\n"
        "    mlflow.sklearn.log_model(\n"
        "        model, name='model', registered_model_name='tiny', pip_requirements=[]\n"
        "    )\n"
        "MlflowClient().set_registered_model_alias('tiny', 'champion', '1')\n",
    )
    result = run(
        Workflow("registers", env_manager="current", nodes=[Executor("train", file="train.py")]), track=True
    )
    assert result.ok, result.log("train")
    home, client = Home.resolve(), open_client(tracking)
    with pytest.raises(ModelsWouldBreak, match=r"tiny/1 \(alias champion\) keep their files in these runs"):
        wipe(home, tracking, "registers")
    assert client.get_model_version("tiny", "1").run_id == result.steps["train"].mlflow_run_id, "all kept"
    assert list_workflow_runs(client, "registers")
    report = wipe(home, tracking, "registers", models=True)
    assert report.model_versions == ["tiny/1"] and report.runs == 2
    assert client.search_registered_models() == [], "a registered model left without versions goes too"
