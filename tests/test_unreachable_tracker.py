"""Every command given a tracking server that is down says so at once, and changes nothing.

MLflow's client retries a refused connection with backoff for minutes; a person
who mistyped --tracking-uri should read what is wrong within seconds.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scanflow(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scanflow.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=90,  # a hang is the failure: before, these waited out MLflow's retries
    )


def _said(result: subprocess.CompletedProcess) -> str:
    return " ".join((result.stdout + result.stderr).split())  # the console wraps long lines


def test_serve_names_the_unreachable_registry_instead_of_waiting() -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    result = scanflow("serve", "models:/digits@champion", "--tracking-uri", dead, "--port", "0")
    assert result.returncode == 1
    assert f"error: cannot reach the MLflow server at {dead}" in _said(result)
    assert "alias 'champion'" not in _said(result), "the registry was never asked about the alias"


def test_wipe_deletes_nothing_when_the_server_is_down(project: Path) -> None:
    local_run = project / ".scanflow" / "runs" / "w-1"
    local_run.mkdir(parents=True)
    dead = f"http://127.0.0.1:{_closed_port()}"
    result = scanflow("wipe", "-y", "--tracking-uri", dead)
    assert result.returncode == 1
    said = _said(result)
    assert f"cannot reach the MLflow server at {dead}" in said and "Nothing was deleted" in said
    assert local_run.is_dir(), "the project's run folders stay when the tracked runs could not be deleted"


def test_improve_says_the_server_is_down_without_a_traceback(project: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(project / "pool.npz", X=rng.random((30, 4)))
    np.savez(project / "holdout.npz", X=rng.random((10, 4)), y=np.arange(10) % 2)
    (project / "train.py").write_text("print('never runs')\n")
    (project / "wf.yaml").write_text("name: w\nnodes:\n  - {executor: train, file: train.py}\n")
    dead = f"http://127.0.0.1:{_closed_port()}"
    result = scanflow(
        "improve", "m", "--pool", "pool.npz", "--holdout", "holdout.npz",
        "--workflow", "wf.yaml", "--step", "train", "--tracking-uri", dead,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: cannot reach the MLflow server at {dead}" in _said(result)


def test_run_offers_to_run_without_tracking(project: Path) -> None:
    (project / "a.py").write_text("print('a')\n")
    (project / "wf.yaml").write_text("name: w\nenv_manager: current\nnodes:\n  - {executor: a, file: a.py}\n")
    result = scanflow("run", "wf.yaml", "--tracking-uri", f"http://127.0.0.1:{_closed_port()}")
    assert result.returncode == 1
    assert "cannot reach the MLflow server" in _said(result) and "--no-track" in _said(result)
