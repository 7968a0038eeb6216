"""Per-step environments built with uv: isolated, cached by content, reused."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from scanflow import Executor, Workflow
from scanflow.run.envs import READY_MARKER, EnvBuildError, EnvCache, env_spec_for

from .runs import run

PROBE = """
import json, os, sys
import six
try:
    import yaml  # installed on the host, not in this environment
    host_leak = True
except ImportError:
    host_leak = False
import scanflow
scanflow.log_metric("probe", 1.0)
json.dump({"six": six.__version__, "python": sys.executable, "host_leak": host_leak,
           "greeting": os.environ.get("GREETING"), "pythonpath": os.environ.get("PYTHONPATH")},
          open("probe.json", "w"))
"""


@pytest.fixture(autouse=True)
def _no_lock(monkeypatch) -> None:
    """These tests choose every version themselves (the suite's lock pins six elsewhere)."""
    monkeypatch.delenv("SCANFLOW_CONSTRAINTS", raising=False)


VERSIONS = "import sys, importlib.metadata as m; print(*(m.version(name) for name in sys.argv[1:]))"


def probe_workflow() -> Workflow:
    return Workflow(
        "isolated",
        nodes=[Executor("probe", file="probe.py", requirements=["six==1.16.0"], env={"GREETING": "hello"})],
    )


def test_a_step_runs_in_its_own_environment_and_the_second_run_reuses_it(write, monkeypatch) -> None:
    write("probe.py", PROBE)
    monkeypatch.setenv("PYTHONPATH", "/somewhere/on/the/host")
    first = run(probe_workflow())
    assert first.ok, Path(first.steps["probe"].log_path).read_text()
    seen = json.loads((first.data_dir / "probe.json").read_text())
    assert seen["six"] == "1.16.0" and seen["greeting"] == "hello"
    assert not seen["host_leak"], "host packages must not be importable in an isolated environment"
    assert seen["pythonpath"] is None
    env_hash = first.steps["probe"].env_hash
    assert env_hash and env_hash in seen["python"]

    marker = EnvCache().path(env_spec_for(probe_workflow().nodes[0], Path.cwd())) / READY_MARKER
    built = marker.stat().st_mtime
    started = time.time()
    second = run(probe_workflow())
    assert second.ok and second.steps["probe"].env_hash == env_hash
    assert marker.stat().st_mtime == built, "the cached environment must be reused, not rebuilt"
    assert time.time() - started < 10


def test_requirements_file_and_list_with_the_same_content_share_an_environment(write) -> None:
    write("reqs.txt", "# comment\nsix==1.16.0  # inline comment\n")
    from_file = env_spec_for(Executor("a", function="m:f", requirements="reqs.txt"), Path.cwd())
    from_list = env_spec_for(Executor("b", function="m:f", requirements=["six==1.16.0"]), Path.cwd())
    other = env_spec_for(Executor("c", function="m:f", requirements=["six==1.15.0"]), Path.cwd())
    assert from_file.hash == from_list.hash != other.hash


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"six\n-r shared/base.txt\n", "base.txt does not exist: check the path or the -r line"),
        ("six\n".encode("utf-16"), "reqs.txt is not UTF-8 text (byte 0 is 0xff)"),
    ],
)
def test_a_requirements_file_that_cannot_be_read_is_named(project, content: bytes, message: str) -> None:
    (project / "reqs.txt").write_bytes(content)
    with pytest.raises(EnvBuildError) as caught:
        env_spec_for(Executor("a", function="m:f", requirements="reqs.txt"), project)
    assert message in str(caught.value)


def test_steps_asking_for_mlflow_get_scanflows_mlflow_version() -> None:
    """A newer MLflow in a step would migrate the shared store past what Scanflow can open."""
    import importlib.metadata

    spec = env_spec_for(Executor("a", function="m:f", requirements=["mlflow-skinny>=3.1"]), Path.cwd())
    python = EnvCache().ensure(spec)
    installed = subprocess.run(
        [str(python), "-c", VERSIONS, "mlflow-skinny", "sqlalchemy", "alembic"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    host = [importlib.metadata.version(name) for name in ("mlflow-skinny", "sqlalchemy", "alembic")]
    assert installed == host
    assert env_spec_for(Executor("b", function="m:f", requirements=["numpy"]), Path.cwd()).constraints == ()


def test_a_step_asking_for_another_mlflow_is_told_which_one_it_gets() -> None:
    import importlib.metadata

    version = importlib.metadata.version("mlflow-skinny")
    newer = Executor("train", function="m:f", requirements=[f"mlflow-skinny>{version}"])
    with pytest.raises(EnvBuildError) as caught:
        EnvCache().ensure(env_spec_for(newer, Path.cwd()), "train")
    assert f"Scanflow's own versions (mlflow-skinny=={version})" in str(caught.value)


def test_a_failing_install_names_the_step_and_the_package(write) -> None:
    write("probe.py", "print('never')\n")
    workflow = Workflow(
        "broken",
        nodes=[Executor("needs", file="probe.py", requirements=["scanflow-no-such-package-xyz==1.0"])],
    )
    with pytest.raises(EnvBuildError) as caught:
        run(workflow)
    message = str(caught.value)
    assert "step 'needs'" in message and "scanflow-no-such-package-xyz" in message
    state = json.loads(next(Path(".scanflow/runs").glob("*/state.json")).read_text())
    assert state["status"] == "failed", "the run is recorded as failed, not lost"


def test_a_python_version_that_cannot_be_had_points_at_the_python_field(write) -> None:
    write("probe.py", "print('never')\n")
    workflow = Workflow("old", python="2.7", nodes=[Executor("step", file="probe.py")])
    with pytest.raises(EnvBuildError) as caught:
        run(workflow)
    message = str(caught.value)
    assert "python 2.7" in message and "Fix the 'python' version in the workflow" in message
    assert "requirement named above" not in message


def test_a_constraints_file_holds_every_step_to_its_versions_and_rebuilds_when_edited(
    write, monkeypatch
) -> None:
    """SCANFLOW_CONSTRAINTS: a team's (or a lock's) pins, applied without asking each step."""
    write("probe.py", PROBE)
    write("pins.txt", "# the team's versions\nsix==1.15.0\nnumpy==2.0.0  # holds numpy, installs nothing\n")
    monkeypatch.setenv("SCANFLOW_CONSTRAINTS", "pins.txt")
    loose = Workflow("pinned", nodes=[Executor("probe", file="probe.py", requirements=["six"])])
    result = run(loose)
    assert result.ok, Path(result.steps["probe"].log_path).read_text()
    assert json.loads((result.data_dir / "probe.json").read_text())["six"] == "1.15.0"
    python = EnvCache().interpreter(env_spec_for(loose.nodes[0], Path.cwd()))
    assert subprocess.run([str(python), "-c", "import numpy"], capture_output=True).returncode != 0

    write("pins.txt", "six==1.16.0\n")
    again = run(loose)
    assert again.steps["probe"].env_hash != result.steps["probe"].env_hash, "an edited file rebuilds"
    assert json.loads((again.data_dir / "probe.json").read_text())["six"] == "1.16.0"


def test_a_step_excluded_by_the_constraints_file_is_told_which_pin(write, monkeypatch) -> None:
    write("pins.txt", "six==1.16.0\n")
    monkeypatch.setenv("SCANFLOW_CONSTRAINTS", str(Path("pins.txt").resolve()))
    older = Executor("old", function="m:f", requirements=["six==1.15.0"])
    with pytest.raises(EnvBuildError) as caught:
        EnvCache().ensure(env_spec_for(older, Path.cwd()), "old")
    assert "SCANFLOW_CONSTRAINTS pins six==1.16.0" in str(caught.value)


def test_a_constraints_variable_naming_no_file_says_so(monkeypatch) -> None:
    monkeypatch.setenv("SCANFLOW_CONSTRAINTS", "missing-pins.txt")
    with pytest.raises(EnvBuildError, match="SCANFLOW_CONSTRAINTS names 'missing-pins.txt', which is not a"):
        env_spec_for(Executor("a", function="m:f", requirements=["six"]), Path.cwd())


def test_a_lock_repeating_scanflows_mlflow_pin_is_named_once(write, monkeypatch) -> None:
    import importlib.metadata

    version = importlib.metadata.version("mlflow-skinny")
    write("lock.txt", f"mlflow-skinny=={version}\nsix==1.16.0\n")
    monkeypatch.setenv("SCANFLOW_CONSTRAINTS", "lock.txt")
    newer = Executor("train", function="m:f", requirements=[f"mlflow-skinny>{version}"])
    with pytest.raises(EnvBuildError) as caught:
        EnvCache().ensure(env_spec_for(newer, Path.cwd()), "train")
    assert f"Scanflow's own versions (mlflow-skinny=={version})" in str(caught.value)
    assert "SCANFLOW_CONSTRAINTS pins" not in str(caught.value), "six is not what failed"
