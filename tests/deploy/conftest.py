"""Fixtures of the deployment tests (the registry and `deployments` are in the root conftest)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_token_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests say which token they deploy with; none comes from the shell running them."""
    monkeypatch.delenv("SCANFLOW_SERVE_TOKEN", raising=False)
