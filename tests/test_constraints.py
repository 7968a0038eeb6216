"""constraints.txt pins what the tests run on: every dependency, at the version installed."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

CONSTRAINTS = Path(__file__).resolve().parents[1] / "constraints.txt"
NOT_LOCKED = {"scanflow", "torch"}  # the project itself; the CPU build scripts/setup-env installs


def locked() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt: {line!r} is not an exact pin (name==version); rerun scripts/lock"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_every_dependency_of_every_extra_is_pinned() -> None:
    required = {canonicalize_name(Requirement(text).name) for text in metadata.requires("scanflow") or []}
    missing = sorted(required - NOT_LOCKED - locked().keys())
    assert not missing, f"not in constraints.txt: {missing}; run scripts/lock after installing them"


@pytest.mark.skipif(os.environ.get("SCANFLOW_UNPINNED") == "1", reason="set up from the newest releases")
def test_the_environment_runs_the_pinned_versions() -> None:
    differ = {
        name: (pinned, metadata.version(name))
        for name, pinned in locked().items()
        if Version(metadata.version(name)) != Version(pinned)
    }
    assert not differ, f"installed versions differ from constraints.txt (pinned, installed): {differ}"
