"""Fixtures of the deployment tests: names to deploy under, removed whatever the test did."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import remove_deployments


@pytest.fixture
def deployments(project: Path, monkeypatch: pytest.MonkeyPatch):
    """A list the test adds its deployment names to; each is removed (by label) at the end."""
    monkeypatch.delenv("SCANFLOW_SERVE_TOKEN", raising=False)
    names: list[str] = []
    yield names
    remove_deployments(names, project / ".scanflow")
