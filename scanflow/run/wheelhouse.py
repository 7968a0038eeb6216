"""Wheels prepared on the host, so image builds need no network and work on air-gapped clusters.

The host downloads (or builds) every wheel a requirement set needs once, into a
folder named by a hash of the set and the interpreter; image builds then install
from that folder with ``--no-index``. A file lock keeps two runs preparing the
same set from colliding.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from scanflow.home import env_cache_dir
from scanflow.run.backend import BackendError
from scanflow.run.build_once import build_once

READY_MARKER = ".scanflow-wheels.json"
REQUIREMENTS_FILE = "requirements.txt"  # what the set was made from, for people


class WheelhouseError(BackendError):
    """pip could not get a wheel for a requirement; the message carries pip's own words."""


def python_tag() -> str:
    """The interpreter the wheels are for (``3.11``): images must run the same minor version."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class WheelSet:
    """Requirement lines, as pip reads them, for one Python version and platform."""

    requirements: tuple[str, ...]
    constraints: tuple[str, ...] = ()  # versions the set must hold when it holds the package

    @property
    def hash(self) -> str:
        identity = {
            "python": python_tag(),
            "platform": sysconfig.get_platform(),
            "requirements": [_wheelable(r) for r in self.requirements],
        }
        if self.constraints:
            identity["constraints"] = list(self.constraints)
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def wheel_cache_dir() -> Path:
    explicit = os.environ.get("SCANFLOW_WHEEL_CACHE")
    return Path(explicit).resolve() if explicit else env_cache_dir().parent / "wheels"


class Wheelhouse:
    """A folder of wheel sets, one sub-folder per hash.

    A set's folder holds the whole resolved closure, so an image installs every
    wheel in it with ``--no-deps``; no path written on the host is needed inside.
    """

    def __init__(self, root: Path | None = None):
        self.root = root or wheel_cache_dir()

    def path(self, wheels: WheelSet) -> Path:
        return self.root / wheels.hash

    def is_ready(self, wheels: WheelSet) -> bool:
        return (self.path(wheels) / READY_MARKER).is_file()

    def ensure(self, wheels: WheelSet, owner: str = "") -> Path:
        """The folder holding every wheel of ``wheels``, preparing it first when needed."""
        build_once(
            self.root, wheels.hash, lambda: self.is_ready(wheels), lambda: self._prepare(wheels, owner)
        )
        return self.path(wheels)

    def _prepare(self, wheels: WheelSet, owner: str) -> None:
        target = self.path(wheels)
        shutil.rmtree(target, ignore_errors=True)  # a half-filled folder from a killed run
        target.mkdir(parents=True)
        lines = [_wheelable(r) for r in wheels.requirements]
        listing = target / REQUIREMENTS_FILE
        listing.write_text("".join(f"{line}\n" for line in lines))
        if lines:
            command = [*_pip(), "wheel", "--quiet", "--wheel-dir", str(target), "-r", str(listing)]
            if wheels.constraints:
                pins = target / "constraints.txt"
                pins.write_text("".join(f"{pin}\n" for pin in wheels.constraints))
                command += ["--constraint", str(pins)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                shutil.rmtree(target, ignore_errors=True)
                tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
                who = f" for {owner}" if owner.startswith("the ") else f" for step '{owner}'" if owner else ""
                from scanflow.run.envs import pinned_versions_hint

                raise WheelhouseError(
                    f"could not prepare the wheels{who}:\n{tail}\n"
                    "Fix the requirement named above (name, version or index) and run again."
                    + pinned_versions_hint(wheels.constraints, tail)
                )
        meta = {"python": python_tag(), "requirements": lines, "constraints": list(wheels.constraints)}
        (target / READY_MARKER).write_text(json.dumps(meta, indent=1))


def _wheelable(requirement: str) -> str:
    """pip builds wheels, not editable installs: ``-e ./pkg`` becomes ``./pkg``."""
    for prefix in ("-e ", "--editable "):
        if requirement.startswith(prefix):
            return requirement.removeprefix(prefix).strip()
    return requirement


def _pip() -> list[str]:
    """pip of this interpreter, else uv's tool runner fetching pip."""
    try:
        import pip  # noqa: F401
    except ImportError:
        from scanflow.run.envs import _uv_binary

        return [_uv_binary(), "tool", "run", "--from", "pip", "pip"]
    return [sys.executable, "-m", "pip"]
