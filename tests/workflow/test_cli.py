"""The `scanflow` command: help, validate, run, resume, runs, graph, wipe."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.graph import Graph
from scanflow.graph_render import has_graphviz, render_svg
from scanflow.spec import Workflow

cli = CliRunner()

WORKFLOW = """
name: cli-demo
env_manager: current
nodes:
  - executor: make
    file: make.py
    parameters: {value: 7}
  - workflow: inner
    parallel: true
    nodes:
      - {executor: left, file: use.py}
      - {executor: right, file: use.py}
"""


@pytest.fixture
def demo(write) -> Path:
    write(
        "make.py",
        """
        import sys, scanflow
        scanflow.log_metric("value", float(sys.argv[2]))
        """,
    )
    write("use.py", "import os, sys\nsys.exit(int(os.environ.get('FAIL_USE', '0')))\n")
    return write("wf.yaml", WORKFLOW)


def test_help_lists_every_command_with_a_description() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scanflow.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    commands = ("validate", "run", "resume", "graph", "wipe", "label", "improve", "build", "serve", "check")
    groups = ("runs", "tracker", "export", "swarm", "deploy")
    rows = [out.find(f"│ {name} ") for name in (*commands, *groups)]
    assert -1 not in rows and rows == sorted(rows), out  # every one, in this order
    assert "Rerun the steps of a run that failed" in out


def test_validate_reports_success_and_errors_with_exit_codes(demo, write) -> None:
    ok = cli.invoke(app, ["validate", str(demo)])
    assert ok.exit_code == 0 and "is valid" in ok.output and "3 step(s)" in ok.output
    bad = write("bad.yaml", "name: x\nnodes:\n  - {executor: a, file: make.py, depends_on: [b]}\n")
    result = cli.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2 and "unknown dependency 'b'" in result.output
    missing = cli.invoke(app, ["validate", "nowhere.yaml"])
    assert missing.exit_code == 2 and "not found" in missing.output


def test_validate_warns_of_inputs_no_earlier_step_writes(write) -> None:
    write("a.py", "")
    write(
        "io.yaml",
        """
        name: io
        parallel: true
        nodes:
          - {executor: early, file: a.py, inputs: [x.csv]}
          - {executor: orphan, file: a.py, inputs: [labels.csv]}
          - {executor: writer, file: a.py, outputs: [x.csv]}
          - {executor: reader, file: a.py, inputs: [x.csv], depends_on: [writer]}
        """,
    )
    checked = cli.invoke(app, ["validate", "io.yaml"])
    text = " ".join(checked.output.split())
    assert checked.exit_code == 0 and "is valid" in text, "a warning, not an error"
    assert "step 'early' reads 'x.csv' but no step before it writes it (make it depend on 'writer'" in text
    assert "step 'orphan' reads 'labels.csv' but no step before it writes it (none declares it)" in text
    assert "'reader'" not in text


def test_a_folder_stands_for_its_workflow_yaml_and_no_argument_for_this_one(demo, write) -> None:
    no_file = " ".join(cli.invoke(app, ["validate"]).output.split())
    assert "has no workflow.yaml: give the workflow file (YAML files there: wf.yaml)" in no_file
    write("sub/step.py", "print('from the folder')\n")
    write("sub/workflow.yaml", "name: folder\nnodes:\n  - {executor: a, file: step.py}\n")
    checked = cli.invoke(app, ["validate", "sub"])
    assert checked.exit_code == 0 and "workflow.yaml: workflow folder is valid" in checked.output
    ran = cli.invoke(app, ["run", "sub", "--no-track"])
    assert ran.exit_code == 0 and "from the folder" in ran.output
    demo.rename("workflow.yaml")
    assert cli.invoke(app, ["run", "--no-track", "-q"]).exit_code == 0, "no argument: ./workflow.yaml"


def test_run_failure_resume_and_listing(demo, tracking, monkeypatch) -> None:
    monkeypatch.setenv("FAIL_USE", "1")
    failed = cli.invoke(app, ["run", str(demo)])
    assert failed.exit_code == 1, failed.output
    run_id = next(Path(".scanflow/runs").iterdir()).name
    [listed_failed] = json.loads(cli.invoke(app, ["runs", "--status", "failed", "--json"]).stdout)
    assert listed_failed["run_id"] == run_id
    assert f"scanflow resume {run_id}" in failed.output
    assert "inner/left failed" in failed.output

    typo = " ".join(cli.invoke(app, ["runs", "-w", "cli-dmeo"]).output.split())
    assert "No workflow runs tracked for 'cli-dmeo'" in typo and "did you mean 'cli-demo'?" in typo

    monkeypatch.setenv("FAIL_USE", "0")
    resumed = cli.invoke(app, ["resume"])  # no id: the latest run
    assert resumed.exit_code == 0, resumed.output
    assert f"Resuming the latest run, {run_id}" in resumed.output

    listing = cli.invoke(app, ["runs"])
    assert listing.exit_code == 0 and run_id in listing.output and "succeeded" in listing.output
    assert run_id in cli.invoke(app, ["runs", "--status", "succeeded"]).output
    assert "No failed workflow runs tracked" in cli.invoke(app, ["runs", "-s", "failed"]).output
    shown = cli.invoke(app, ["runs", "show", run_id])
    assert shown.exit_code == 0
    assert "make" in shown.output and "value=7" in shown.output and "inner" in shown.output
    assert "earlier attempt" in shown.output, "the resumed steps show their failed first attempt"

    # The same, for scripts: JSON with nothing but the document on stdout.
    [listed] = json.loads(cli.invoke(app, ["runs", "--json"]).stdout)
    assert (listed["run_id"], listed["workflow"], listed["status"]) == (run_id, "cli-demo", "succeeded")
    assert listed["duration_s"] > 0 and listed["started"].endswith("+00:00")
    tree = json.loads(cli.invoke(app, ["runs", "show", run_id[:12], "--json"]).stdout)
    steps = {node["node"]: node for node in _walk(tree) if node["kind"] == "step"}
    assert set(steps) == {"make", "inner/left", "inner/right"}
    assert steps["make"]["metrics"] == {"value": 7.0} and steps["make"]["params"]["value"] == "7"
    assert len(steps["inner/left"]["earlier_attempts"]) == 1 and steps["inner/left"]["status"] == "done"


def _walk(node: dict) -> list[dict]:
    return [node, *(found for child in node["children"] for found in _walk(child))]


def test_set_gives_a_run_its_own_parameters_and_names_wrong_ones(demo, tracking) -> None:
    ran = cli.invoke(app, ["run", str(demo), "--set", "make.value=9", "--set", "inner/left.unused=x", "-q"])
    assert ran.exit_code == 2, ran.output
    assert "step 'inner/left' has no parameter 'unused' (it has: none)" in " ".join(ran.output.split())
    typo = cli.invoke(app, ["run", str(demo), "--set", "make.value=[1, 2", "-q"])
    assert typo.exit_code == 2 and "'[1, 2' is not a valid YAML list or mapping" in " ".join(
        typo.output.split()
    )

    ran = cli.invoke(app, ["run", str(demo), "--set", "make.value=9", "-q"])
    assert ran.exit_code == 0, ran.output
    [listed] = json.loads(cli.invoke(app, ["runs", "--json"]).stdout)
    tree = json.loads(cli.invoke(app, ["runs", "show", listed["run_id"], "--json"]).stdout)
    make = next(node for node in _walk(tree) if node["node"] == "make")
    assert make["params"]["value"] == "9" and make["metrics"]["value"] == 9.0
    assert "value: 7" in demo.read_text(), "the file is left as it was"


def test_runs_diff_shows_what_changed_between_two_runs(demo, tracking) -> None:
    assert cli.invoke(app, ["run", str(demo), "-q"]).exit_code == 0
    assert cli.invoke(app, ["run", str(demo), "-q", "--set", "make.value=9"]).exit_code == 0
    newer, older = (run["run_id"] for run in json.loads(cli.invoke(app, ["runs", "--json"]).stdout))
    changes = json.loads(cli.invoke(app, ["runs", "diff", older, newer, "--json"]).stdout)
    assert changes == [
        {"step": "make", "kind": "param", "name": "value", "left": "7", "right": "9", "change": None},
        {"step": "make", "kind": "metric", "name": "value", "left": 7.0, "right": 9.0, "change": 2.0},
    ], "only what differs: the inner steps are alike"
    table = " ".join(cli.invoke(app, ["runs", "diff", older, newer]).output.split())
    assert f"A = {older}, B = {newer}" in table and "+2" in table
    same = cli.invoke(app, ["runs", "diff", older, older])
    assert "have the same parameters, metrics and outcomes" in " ".join(same.output.split())


def test_run_without_tracking_and_quiet(demo) -> None:
    result = cli.invoke(app, ["run", str(demo), "--no-track", "-q", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert not Path(".scanflow/mlflow.db").exists()
    assert "succeeded" in result.output
    run_id = next(Path(".scanflow/runs").iterdir()).name
    listed = " ".join(cli.invoke(app, ["runs"]).output.split())
    assert "No runs tracked yet" in listed and f"the latest is {run_id}" in listed, "untracked, not lost"
    shown = " ".join(cli.invoke(app, ["runs", "show", run_id]).output.split())
    assert f"cli-demo run {run_id}: succeeded" in shown and "inner/left" in shown and "not tracked" in shown
    as_json = json.loads(cli.invoke(app, ["runs", "show", run_id, "--json"]).stdout)
    assert as_json["tracked"] is False and as_json["steps"]["make"]["status"] == "done"


def test_runs_before_anything_was_tracked() -> None:
    result = cli.invoke(app, ["runs"])
    assert result.exit_code == 0 and "No runs tracked yet" in result.output
    as_json = cli.invoke(app, ["runs", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == []
    assert not Path(".scanflow/mlflow.db").exists(), "listing must not create a store"
    nothing = cli.invoke(app, ["resume"])
    assert nothing.exit_code == 2 and "no runs to resume" in nothing.output


def test_graph_writes_svg_and_dot(demo) -> None:
    svg = cli.invoke(app, ["graph", str(demo), "-o", "wf.svg"])
    assert svg.exit_code == 0 and "<svg" in Path("wf.svg").read_text()
    dot = cli.invoke(app, ["graph", str(demo), "-o", "wf.dot"])
    text = Path("wf.dot").read_text()
    assert dot.exit_code == 0 and 'subgraph "cluster_inner"' in text and '"make" -> "inner/left"' in text
    bad = cli.invoke(app, ["graph", str(demo), "-o", "wf.gif"])
    assert bad.exit_code == 2 and "unknown picture format" in bad.output
    nested = cli.invoke(app, ["graph", str(demo), "-o", "docs/pictures/wf.svg"])
    assert nested.exit_code == 0 and "<svg" in Path("docs/pictures/wf.svg").read_text()


def test_a_path_the_command_cannot_write_is_named_without_a_traceback(demo) -> None:
    Path("taken.svg").mkdir()
    command = [sys.executable, "-m", "scanflow.cli", "graph", str(demo), "-o", "taken.svg"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "cannot use 'taken.svg': Is a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_built_in_svg_needs_no_graphviz(demo) -> None:
    graph = Graph.from_workflow(Workflow.from_yaml(demo))
    svg = render_svg(graph, use_graphviz=False)
    assert svg.count('class="node"') == 3 and svg.count('class="cluster"') == 1
    assert svg.count("<path") == 2 + 1  # two edges and the arrow head
    if has_graphviz():
        assert "<svg" in render_svg(graph, use_graphviz=True)


def test_graph_of_a_run_colours_each_step_by_how_it_did(demo, monkeypatch) -> None:
    monkeypatch.setenv("FAIL_USE", "1")
    assert cli.invoke(app, ["run", str(demo), "-q", "--no-track", "--fail-fast"]).exit_code == 1
    run_id = next(Path(".scanflow/runs").iterdir()).name
    demo.write_text("name: edited\nnodes: []\n")  # the picture is of the run, not of today's file
    drawn = cli.invoke(app, ["graph", "--run", run_id[:12], "-o", "run.dot"])
    assert drawn.exit_code == 0, drawn.output
    dot = Path("run.dot").read_text()
    assert '"make" [label="make (done)", fillcolor="#d9f2d9"' in dot
    assert "(failed)" in dot and 'fillcolor="#fbdcdc"' in dot
    svg = render_svg(
        Graph.from_workflow(Workflow.from_yaml_string(WORKFLOW)),
        use_graphviz=False,
        statuses={"make": "done"},
    )
    assert "make (done)" in svg and "left (not run)" in svg, "the built-in layout labels them too"
    missing = cli.invoke(app, ["graph", "--run", "nosuchrun"])
    assert missing.exit_code == 2 and "no run 'nosuchrun'" in missing.output


def test_wipe_asks_before_deleting(demo, tracking) -> None:
    assert cli.invoke(app, ["run", str(demo), "-q"]).exit_code == 0
    refused = cli.invoke(app, ["wipe", "cli-demo"], input="n\n")
    assert refused.exit_code == 1 and Path(".scanflow/mlflow.db").exists()
    done = cli.invoke(app, ["wipe", "cli-demo", "--yes"])
    assert done.exit_code == 0 and "deleted" in done.output
    assert "No workflow runs tracked" in cli.invoke(app, ["runs"]).output


def test_tracker_refuses_to_expose_the_store_without_authentication() -> None:
    result = cli.invoke(app, ["tracker", "up", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "without authentication" in result.output and "--auth basic" in result.output


def test_tracker_on_a_taken_port_says_so_instead_of_pointing_at_another_service() -> None:
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = cli.invoke(app, ["tracker", "up", "--port", str(port)])
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is taken: choose another with --port" in " ".join(result.output.split())
    assert "Starting the MLflow server" not in result.output


TICKING = """
import time
for n in range(6):
    print("tick", n, flush=True)
    time.sleep(0.3)
"""


def test_runs_log_prints_a_step_and_follows_a_running_one(write) -> None:
    write("tick.py", TICKING)
    write("bad.py", "import sys\nprint('about to fail')\nsys.exit(3)\n")
    write(
        "wf.yaml",
        "name: logs\nenv_manager: current\nnodes:\n  - {executor: tick, file: tick.py}\n"
        "  - {executor: bad, file: bad.py, retries: 1, retry_delay: 0.1}\n",
    )
    running = subprocess.Popen(
        [sys.executable, "-m", "scanflow.cli", "run", "wf.yaml", "-q", "--no-track"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while not list(Path(".scanflow/runs").glob("*/logs/tick.log")) and time.time() < deadline:
            time.sleep(0.05)
        [run_id] = [p.name for p in Path(".scanflow/runs").iterdir()]
        followed = cli.invoke(app, ["runs", "log", run_id, "tick", "-f"])
        assert followed.exit_code == 0
        assert followed.output == "".join(f"tick {n}\n" for n in range(6)), "every line, once, to the end"
    finally:
        running.wait(timeout=60)

    failed = cli.invoke(app, ["runs", "log", run_id[:10]])  # no step named: the failed one
    assert failed.output == "about to fail\n--- attempt 2 of 2 ---\nabout to fail\n"
    unknown = cli.invoke(app, ["runs", "log", run_id, "tik"])
    assert unknown.exit_code == 2
    assert "no step 'tik' (did you mean 'tick'?)" in " ".join(unknown.output.split())
