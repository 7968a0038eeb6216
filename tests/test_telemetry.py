"""MLflow's usage reports to its makers stay off in Scanflow's processes, unless the user turns them on.

Scanflow runs on laptops and air-gapped clusters with data that must not
leave them; MLflow 3 reports usage to its makers by default.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ASK = (
    "import scanflow, mlflow.telemetry.utils as t;"
    " print('disabled' if t.is_telemetry_disabled() else 'enabled')"
)
# MLflow also stays quiet under CI and pytest: a user's shell has neither.
_CI_MARKERS = ("CI", "PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "BUILDKITE")


def _telemetry(**variables: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in _CI_MARKERS and k != "MLFLOW_DISABLE_TELEMETRY"}
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-c", ASK], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_importing_scanflow_turns_mlflow_telemetry_off() -> None:
    assert _telemetry() == "disabled"


@pytest.mark.parametrize(("value", "expected"), [("false", "enabled"), ("true", "disabled")])
def test_a_users_own_choice_is_kept(value: str, expected: str) -> None:
    assert _telemetry(MLFLOW_DISABLE_TELEMETRY=value) == expected
