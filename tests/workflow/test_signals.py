"""Ctrl-C or SIGTERM stops every step process, leaves nothing running and records the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_local_runner import _gone

SCANFLOW = [sys.executable, "-m", "scanflow.cli"]

HANG = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open(f"pids-{os.environ['SCANFLOW_NODE'].replace('/', '_')}.txt", "w").write(f"{os.getpid()} {child.pid}")
time.sleep(300)
"""

WORKFLOW = """
name: hanging
env_manager: current
nodes:
  - workflow: both
    parallel: true
    nodes:
      - {executor: one, file: hang.py}
      - {executor: two, function: "hangfn:hang"}
  - {executor: never, file: hang.py}
"""


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_all_steps_and_records_the_run_as_cancelled(write, tracking, sig) -> None:
    write("hang.py", HANG)
    write(
        "hangfn.py",
        f"def hang():\n    exec(compile(open({str(Path.cwd() / 'hang.py')!r}).read(), 'hang.py', 'exec'))\n",
    )
    write("wf.yaml", WORKFLOW)
    process = subprocess.Popen(
        [*SCANFLOW, "run", "wf.yaml", "-q"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    runs = Path(".scanflow/runs")
    wait_for(lambda: len(list(runs.glob("*/data/pids-*.txt"))) == 2)
    time.sleep(0.3)
    pids = [int(p) for f in runs.glob("*/data/pids-*.txt") for p in f.read_text().split()]
    assert all(not _gone(pid, wait=0) for pid in pids)

    os.kill(process.pid, sig)
    output, _ = process.communicate(timeout=180)  # generous: CI machines can be busy
    assert process.returncode == 130, output
    for pid in pids:
        assert _gone(pid), f"process {pid} survived the interrupt"

    state = json.loads(next(runs.glob("*/state.json")).read_text())
    assert state["status"] == "cancelled"
    statuses = {k: v["status"] for k, v in state["steps"].items()}
    assert statuses == {"both/one": "cancelled", "both/two": "cancelled", "never": "cancelled"}

    from scanflow.track.store import open_client

    client = open_client(tracking)
    run = client.get_run(state["mlflow_run_id"])
    assert run.info.status == "KILLED" and run.data.tags["scanflow.status"] == "cancelled"
