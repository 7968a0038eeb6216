"""The step cache: skip a step whose code, parameters, inputs and environment are unchanged.

A step opts in with ``cache: true``. Its key hashes the script (or the module
holding its function), its parameters and environment variables, the content
of every declared input and the environment id. On success its declared
outputs are copied into `.scanflow/cache/<key>/`; a later hit copies them back
into the run's data directory instead of running the step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path

from scanflow.graph import Step

_CHUNK = 1 << 20


class StepCache:
    def __init__(self, root: Path):
        self.root = root

    def key(self, step: Step, base_dir: Path, data_dir: Path, env_hash: str) -> str:
        executor = step.executor
        identity = {
            "entry": executor.file or executor.function,
            "code": _code_hash(executor.file, executor.function, base_dir),
            "parameters": executor.parameters,
            "env": executor.env,
            "environment": env_hash,
            "inputs": {path: _content_hash(data_dir / path) for path in executor.inputs},
            "outputs": sorted(executor.outputs),
        }
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def lookup(self, key: str, outputs: list[str]) -> Path | None:
        """The cache entry for ``key`` when it holds every output, else None."""
        entry = self.root / key
        if not (entry / "meta.json").is_file():
            return None
        if all((entry / "outputs" / path).exists() for path in outputs):
            return entry
        return None

    def restore(self, entry: Path, outputs: list[str], data_dir: Path) -> None:
        for path in outputs:
            _copy(entry / "outputs" / path, data_dir / path)
        (entry / "meta.json").touch()  # its last use: `scanflow cache prune` keeps entries in use

    def store(self, key: str, outputs: list[str], data_dir: Path, meta: dict) -> None:
        """Keep ``outputs`` under ``key``. Runs storing the same key at once each stage their own copy;
        the first to move it into place wins, and an incomplete entry is replaced."""
        entry = self.root / key
        staging = self.root / f".{key}.{os.getpid()}-{secrets.token_hex(3)}.tmp"
        for path in outputs:
            _copy(data_dir / path, staging / "outputs" / path)
        staging.mkdir(parents=True, exist_ok=True)
        (staging / "meta.json").write_text(json.dumps({**meta, "stored_at": time.time()}, indent=1))
        try:
            staging.rename(entry)
            return
        except OSError:  # an entry is there already
            pass
        if self.lookup(key, outputs) is not None:  # another run stored the same outputs: keep theirs
            shutil.rmtree(staging, ignore_errors=True)
            return
        stale = staging.with_suffix(".stale")
        with contextlib.suppress(OSError):
            entry.rename(stale)
        try:
            staging.rename(entry)
        except OSError:  # yet another run got there in between: its entry is as good
            shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)


def missing_files(paths: list[str], data_dir: Path) -> list[str]:
    """Those of ``paths`` (declared inputs or outputs) not in the data directory."""
    return [path for path in paths if not (data_dir / path).exists()]


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)


def _content_hash(path: Path) -> str:
    if path.is_file():
        return _file_hash(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(item.relative_to(path)).encode())
            digest.update(_file_hash(item).encode())
        return digest.hexdigest()
    return "missing"


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _code_hash(file: str | None, function: str | None, base_dir: Path) -> str:
    """Hash of the step's script, or of the module file holding its function."""
    if file is not None:
        path = Path(file) if Path(file).is_absolute() else base_dir / file
        return _content_hash(path)
    module = (function or "").partition(":")[0]
    relative = Path(*module.split("."))
    for candidate in (base_dir / relative.with_suffix(".py"), base_dir / relative / "__init__.py"):
        if candidate.is_file():
            return _content_hash(candidate)
    import importlib.util

    try:  # an installed module: its file tells a new version apart
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin and Path(spec.origin).is_file():
        return _content_hash(Path(spec.origin))
    return "unknown"
