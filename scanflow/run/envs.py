"""Per-step virtual environments, built with uv and cached by what they contain.

An environment is identified by a hash of (Python interpreter, requirement
lines), so every step and every run that asks for the same thing shares one
folder and the second run starts at once. Builds take a file lock, so two runs
building the same environment at the same time do not collide.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from scanflow.home import env_cache_dir
from scanflow.run.build_once import build_once
from scanflow.spec.executor import Executor
from scanflow.text_files import NotText, read_text

READY_MARKER = ".scanflow-env.json"
LAST_USED_MARKER = ".scanflow-last-used"  # touched at each use: `scanflow cache prune` keeps what is in use
# Part of every environment's hash: bump it when builds install differently, so
# environments built the old way are rebuilt instead of reused (2: constraints applied).
BUILD_FORMAT = 2
CURRENT = "current"


class EnvBuildError(RuntimeError):
    """An environment could not be built; the message carries uv's own words."""


@dataclass(frozen=True)
class EnvSpec:
    """What an environment holds: an interpreter and requirement lines."""

    python: str  # a version such as "3.11", or an interpreter path
    requirements: tuple[str, ...]
    current: bool = False
    constraints: tuple[str, ...] = ()

    @property
    def hash(self) -> str:
        if self.current:
            return CURRENT
        identity = {
            "python": _interpreter_identity(self.python),
            "requirements": list(self.requirements),
            "constraints": list(self.constraints),
            "format": BUILD_FORMAT,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        if self.current:
            return "current interpreter"
        packages = ", ".join(_short(r) for r in self.requirements[:4])
        more = f" +{len(self.requirements) - 4}" if len(self.requirements) > 4 else ""
        return f"python {self.python}" + (f" with {packages}{more}" if packages else "")


def env_spec_for(executor: Executor, base_dir: Path) -> EnvSpec:
    """The environment an executor asks for (workflow defaults already applied)."""
    if executor.env_manager == "current":
        return EnvSpec(python=sys.executable, requirements=(), current=True)
    python = executor.python or sys.executable
    requirements = tuple(read_requirements(executor.requirements, base_dir))
    if tracking_constraints(requirements):
        requirements += tuple(r for r in _STORE_DRIVERS if r not in requirements)
    return EnvSpec(python=python, requirements=requirements, constraints=step_constraints(requirements))


def step_constraints(requirements: tuple[str, ...]) -> tuple[str, ...]:
    """Every version pin a step's install obeys: Scanflow's MLflow pins, then the site's own."""
    return tuple(dict.fromkeys(tracking_constraints(requirements) + site_constraints()))


_MLFLOW_REQUIREMENT = re.compile(r"^(mlflow|mlflow-skinny)\b", re.IGNORECASE)
_STORE_DRIVERS = ("sqlalchemy", "alembic")  # what MLflow needs to write to a SQL store
# (installed package whose version is taken, packages pinned to that version)
_TRACKING_PINS = (("mlflow-skinny", ("mlflow", "mlflow-tracing")), ("sqlalchemy", ()), ("alembic", ()))


def tracking_constraints(requirements: tuple[str, ...]) -> tuple[str, ...]:
    """Pin MLflow (and its SQL store drivers) in a step's environment to Scanflow's versions.

    Steps that log write to the same store as Scanflow's tracker; an MLflow of
    another version would refuse a database migrated by this one (MLflow
    Projects pin their child environments the same way). Steps that do not ask
    for MLflow get nothing added.
    """
    if not any(_MLFLOW_REQUIREMENT.match(r) for r in requirements):
        return ()
    return _host_tracking_pins()


def _host_tracking_pins() -> tuple[str, ...]:
    pins = []
    for package, also in _TRACKING_PINS:
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
        pins += [f"{name}=={version}" for name in (package, *also)]
    return tuple(pins)


CONSTRAINTS_VARIABLE = "SCANFLOW_CONSTRAINTS"


def site_constraints() -> tuple[str, ...]:
    """The lines of the constraints files ``SCANFLOW_CONSTRAINTS`` names (paths split like PATH).

    A team's or a lock's pins, applied to every step environment and wheel set,
    the way pip's ``--constraint`` would: they hold a package's version without
    installing it. Their content is part of an environment's hash, so editing the
    file rebuilds the environments it changes.
    """
    lines: list[str] = []
    for name in filter(None, os.environ.get(CONSTRAINTS_VARIABLE, "").split(os.pathsep)):
        path = Path(name).expanduser()
        if not path.is_file():
            raise EnvBuildError(
                f"{CONSTRAINTS_VARIABLE} names {name!r}, which is not a file: "
                "point it at a constraints file (lines such as 'numpy==2.1.3') or unset it."
            )
        lines += [line for line in _read_file(path.resolve(), set()) if not line.startswith("-")]
    return tuple(lines)


def read_requirements(requirements: str | list[str] | None, base_dir: Path) -> list[str]:
    """Requirement lines from a list or a file (following ``-r`` includes).

    Local paths become absolute, so the hash tells two projects' ``./pkg`` apart.
    """
    if requirements is None:
        return []
    if isinstance(requirements, list):
        return [_absolute(line.strip(), base_dir) for line in requirements if line.strip()]
    return _read_file(_resolve(base_dir, requirements), seen=set())


def _read_file(path: Path, seen: set[Path]) -> list[str]:
    if path in seen:
        return []
    seen.add(path)
    lines: list[str] = []
    try:
        text = read_text(path, "requirements file")
    except FileNotFoundError:
        raise EnvBuildError(
            f"requirements file {path} does not exist: check the path or the -r line"
        ) from None
    except NotText as error:
        raise EnvBuildError(str(error)) from None
    for raw in text.splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            lines += _read_file(_resolve(path.parent, line.split(maxsplit=1)[1]), seen)
        else:
            lines.append(_absolute(line, path.parent))
    return lines


def _resolve(base: Path, relative: str) -> Path:
    path = Path(relative)
    return path if path.is_absolute() else (base / path).resolve()


def _absolute(line: str, base: Path) -> str:
    """Make local paths (``./pkg``, ``-e ../lib``) absolute; leave package names alone."""
    prefix = ""
    target = line
    if line.startswith(("-e ", "--editable ")):
        prefix, target = line.split(maxsplit=1)
        prefix += " "
    if target.startswith((".", "/")) or target.startswith("file:"):
        return prefix + str(_resolve(base, target.removeprefix("file:")))
    return line


def _interpreter_identity(python: str) -> str:
    if python == sys.executable:
        return f"{sys.implementation.name}-{sys.version.split()[0]}-{sysconfig.get_platform()}"
    return python


def _short(requirement: str) -> str:
    return Path(requirement).name if requirement.startswith("/") else requirement


class EnvCache:
    """A folder of ready environments, one sub-folder per hash."""

    def __init__(self, root: Path | None = None):
        self.root = root or env_cache_dir()

    def path(self, spec: EnvSpec) -> Path:
        return self.root / spec.hash

    def interpreter(self, spec: EnvSpec) -> Path:
        if spec.current:
            return Path(sys.executable)
        return self.path(spec) / "bin" / "python"

    def is_ready(self, spec: EnvSpec) -> bool:
        return spec.current or (self.path(spec) / READY_MARKER).is_file()

    def ensure(self, spec: EnvSpec, owner: str = "") -> Path:
        """The interpreter of ``spec``'s environment, building it first when needed."""
        if not spec.current:
            _link_shim()
        build_once(self.root, spec.hash, lambda: self.is_ready(spec), lambda: self._build(spec, owner))
        if not spec.current:
            (self.path(spec) / LAST_USED_MARKER).touch()
        return self.interpreter(spec)

    def _build(self, spec: EnvSpec, owner: str) -> None:
        target = self.path(spec)
        shutil.rmtree(target, ignore_errors=True)  # a half-built folder from a killed build
        started = time.time()
        # MLflow records the pip version when it logs a model: give such envs a pip.
        seed = ["--seed"] if tracking_constraints(spec.requirements) else []
        _uv(
            ["venv", "--quiet", *seed, "--python", spec.python, str(target)],
            owner,
            spec,
            fix=(
                "Fix the 'python' version in the workflow, or install that Python on this machine"
                f" (Scanflow runs on {sys.version_info.major}.{sys.version_info.minor} here), and run again."
            ),
        )
        if spec.requirements:
            listing = target / "requirements.txt"
            listing.write_text("\n".join(spec.requirements) + "\n")
            pins: list[str] = []
            if spec.constraints:
                constraints = target / "constraints.txt"
                constraints.write_text("\n".join(spec.constraints) + "\n")
                pins = ["--constraint", str(constraints)]
            _uv(
                ["pip", "install", "--python", str(target / "bin" / "python"), "-r", str(listing), *pins],
                owner,
                spec,
            )
        install_scanflow_shim(target)
        meta = {
            "python": spec.python,
            "requirements": list(spec.requirements),
            "constraints": list(spec.constraints),
            "built_at": time.time(),
            "build_seconds": round(time.time() - started, 2),
        }
        (target / READY_MARKER).write_text(json.dumps(meta, indent=1))

    def remove(self, spec: EnvSpec) -> None:
        shutil.rmtree(self.path(spec), ignore_errors=True)


def _uv(
    args: list[str],
    owner: str,
    spec: EnvSpec,
    fix: str = "Fix the requirement named above (name, version or index) and run again.",
) -> None:
    uv = _uv_binary()
    env = {**os.environ, "UV_COMPILE_BYTECODE": "1"}
    result = subprocess.run([uv, *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()
        tail = "\n".join(output[-15:])
        who = f" for step '{owner}'" if owner else ""
        raise EnvBuildError(
            f"could not build the environment{who} ({spec.describe()}):\n{tail}\n{fix}"
            + pinned_versions_hint(spec.constraints, tail)
        )


def pinned_versions_hint(constraints: tuple[str, ...], output: str) -> str:
    """Why a failed install may be a pin: those of ``constraints`` that ``output`` names, by source."""
    named = [pin for pin in constraints if re.search(rf"\b{re.escape(_pinned_name(pin))}\b(?!-)", output)]
    host = set(_host_tracking_pins())
    ours = [pin for pin in named if pin in host]
    site = [pin for pin in named if pin not in ours]
    hint = ""
    if ours:
        hint += (
            f"\nSteps that use MLflow get Scanflow's own versions ({', '.join(ours)}) so they can "
            "write to its store: allow those versions in the step's requirements."
        )
    if site:
        hint += (
            f"\n{CONSTRAINTS_VARIABLE} pins {', '.join(site)}: allow those versions in the step's "
            "requirements, or change the constraints file."
        )
    return hint


def _pinned_name(pin: str) -> str:
    return re.split(r"[=<>!~ ;\[]", pin, maxsplit=1)[0]


def _uv_binary() -> str:
    """The uv executable: the one installed with Scanflow, else the one on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise EnvBuildError("uv is not installed: run `pip install uv`") from None
        return found


def _shim_dir() -> Path:
    return env_cache_dir().parent / "shim"


def _link_shim() -> None:
    """Point the shim folder at this Scanflow package (once per process)."""
    if getattr(_link_shim, "done", False):
        return
    link = _shim_dir() / "scanflow"
    package = Path(__file__).resolve().parents[1]
    if not (link.is_symlink() and link.resolve() == package):
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.parent / f".scanflow.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(package)
        os.replace(tmp, link)
    _link_shim.done = True  # type: ignore[attr-defined]


def install_scanflow_shim(env_dir: Path) -> None:
    """Make ``import scanflow`` (the logging helpers) work inside a step's environment.

    Only the ``scanflow`` package is exposed, through a folder holding a single
    link to it, so the step does not see any other package of the host.
    """
    for site in env_dir.glob("lib/python*/site-packages"):
        (site / "_scanflow_shim.pth").write_text(str(_shim_dir()) + "\n")
