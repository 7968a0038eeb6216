"""Shared fixtures: every test gets its own project folder, store and env cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SESSION_ENV_CACHE = Path(os.environ.get("SCANFLOW_TEST_ENV_CACHE", "/tmp/scanflow-test-envs"))


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project folder as the working directory, with its own `.scanflow/`.

    The environment cache is shared by the whole test session (building the
    same environment in every test would only measure uv).
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCANFLOW_HOME", raising=False)
    monkeypatch.delenv("SCANFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.setenv("SCANFLOW_ENV_CACHE", str(SESSION_ENV_CACHE))
    return tmp_path
