"""`scanflow cache`: what is kept on disk, and pruning what has gone unused, never what is in use."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanflow import Executor, Workflow
from scanflow.cli import app
from scanflow.run.envs import LAST_USED_MARKER

from .runs import run

cli = CliRunner()
DAY = 86400


def _age(path: Path, days: float) -> None:
    """Pretend ``path`` was last touched ``days`` ago (time passing, not a fake of what is measured)."""
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp))


def _kept() -> list[dict]:
    return json.loads(cli.invoke(app, ["cache", "--json"]).stdout)


@pytest.fixture(autouse=True)
def _no_docker(monkeypatch) -> None:
    """These tests are about folders; the machine's images are tested in tests/containers."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")


def test_prune_removes_what_went_unused_and_keeps_the_rest(write, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SCANFLOW_ENV_CACHE", str(tmp_path / "envs"))  # this test's own environments
    write("step.py", "open('out.txt', 'w').write('made')\n")
    workflow = Workflow("disk", nodes=[Executor("make", file="step.py", outputs=["out.txt"], cache=True)])
    first = run(workflow)
    assert first.ok
    kinds = sorted(item["kind"] for item in _kept())
    assert kinds == ["environment", "run", "step output"]
    listing = " ".join(cli.invoke(app, ["cache"]).output.split())
    assert "environments │ 1" in listing and "step outputs │ 1" in listing and "runs │ 1" in listing

    assert "Nothing unused for longer than 30d" in cli.invoke(app, ["cache", "prune", "--yes"]).output

    [environment] = [Path(i["where"]) for i in _kept() if i["kind"] == "environment"]
    [entry] = [Path(i["where"]) for i in _kept() if i["kind"] == "step output"]
    _age(environment / LAST_USED_MARKER, 40)
    _age(entry / "meta.json", 40)
    planned = cli.invoke(app, ["cache", "prune", "--dry-run"])
    assert "Would remove 1 environment(s), 1 step output(s)" in " ".join(planned.output.split())
    assert environment.is_dir() and entry.is_dir(), "a dry run removes nothing"

    pruned = cli.invoke(app, ["cache", "prune", "--yes"])
    assert pruned.exit_code == 0 and "removed 1 environment(s), 1 step output(s)" in pruned.output
    assert not environment.exists() and not entry.exists()
    assert first.data_dir.is_dir(), "run folders go only with --runs"

    again = run(workflow)  # the next run rebuilds what it needs
    assert again.ok and again.steps["make"].status.value == "done"


def test_a_run_in_progress_and_the_environment_it_uses_are_never_pruned(write, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SCANFLOW_ENV_CACHE", str(tmp_path / "envs"))
    write("slow.py", "import time\nopen('started', 'w').write('yes')\ntime.sleep(60)\n")
    write("wf.yaml", "name: busy\nnodes:\n  - {executor: slow, file: slow.py}\n")
    scanflow = subprocess.Popen(
        [sys.executable, "-m", "scanflow.cli", "run", "wf.yaml", "-q", "--no-track"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so the step it starts is stopped with it
    )
    try:
        deadline = time.time() + 60
        while not list(Path(".scanflow/runs").glob("*/data/started")) and time.time() < deadline:
            time.sleep(0.1)
        kept = _kept()
        assert {item["kind"] for item in kept if item["busy"]} == {"environment", "run"}
        for item in kept:
            target = Path(item["where"]) / (LAST_USED_MARKER if item["kind"] == "environment" else "")
            _age(target, 40)
        pruned = cli.invoke(app, ["cache", "prune", "--runs", "--older-than", "1d", "--yes"])
        assert "Nothing unused" in pruned.output
        assert all(Path(item["where"]).exists() for item in kept)
    finally:
        os.killpg(scanflow.pid, signal.SIGKILL)
        scanflow.wait(timeout=30)
