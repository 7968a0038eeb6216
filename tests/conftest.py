"""Shared fixtures: every test gets its own project folder, store and env cache."""

from __future__ import annotations

import os
import signal
import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

SESSION_ENV_CACHE = Path(os.environ.get("SCANFLOW_TEST_ENV_CACHE", "/tmp/scanflow-test-envs"))
LOCK = Path(__file__).resolve().parents[1] / "constraints.txt"  # what scripts/setup-env installs

# A test run started in the background (`cmd &` in a script, nohup) inherits Ctrl-C
# ignored, and so would every command the tests start. The Ctrl-C tests need it as a
# terminal delivers it: a Python handler here is reset to the default in each child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project folder as the working directory, with its own `.scanflow/`.

    The environment cache is shared by the whole test session (building the
    same environment in every test would only measure uv).
    """
    monkeypatch.chdir(tmp_path)
    for variable in (
        "SCANFLOW_HOME",
        "SCANFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",  # mlflow.set_registry_uri exports it: steps would register elsewhere
        "MLFLOW_RUN_ID",
        "SCANFLOW_CONSTRAINTS",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SCANFLOW_ENV_CACHE", str(SESSION_ENV_CACHE))
    if os.environ.get("SCANFLOW_UNPINNED") != "1":
        # Steps install what the host runs (a model a step trains is loaded here), and a
        # release overnight changes no test's environment.
        monkeypatch.setenv("SCANFLOW_CONSTRAINTS", str(LOCK))
    return tmp_path


@pytest.fixture
def write(project: Path) -> Callable[[str, str], Path]:
    """Write a file (dedented) into the project folder and return its path."""

    def _write(name: str, content: str) -> Path:
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content).lstrip("\n"))
        return path

    return _write


@pytest.fixture(scope="session")
def _mlflow_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow database made once; creating one costs seconds."""
    from scanflow.track.store import open_client, prepare_store

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    prepare_store(uri)
    open_client(uri).search_experiments()
    return path


@pytest.fixture
def tracking(project: Path, _mlflow_db_template: Path) -> str:
    """The project's embedded tracking URI, with its database already created."""
    target = project / ".scanflow" / "mlflow.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    # The backup API copies what is still in the write-ahead log too.
    with sqlite3.connect(_mlflow_db_template) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def digits_registry(tmp_path_factory: pytest.TempPathFactory):
    """An MLflow registry with two versions of a digits classifier (see tests/deploy/helpers.py)."""
    from deploy.helpers import build_digits_registry

    return build_digits_registry(tmp_path_factory.mktemp("digits-registry"))


@pytest.fixture
def deployments(project: Path, monkeypatch: pytest.MonkeyPatch):
    """A list the test adds its deployment names to; each is removed (by label) at the end."""
    from deploy.helpers import remove_deployments

    monkeypatch.delenv("SCANFLOW_SERVE_TOKEN", raising=False)
    names: list[str] = []
    yield names
    remove_deployments(names, project / ".scanflow")
