"""What Scanflow keeps on disk between runs, and pruning what has not been used for a while.

Three kinds of things grow with use: step environments (shared by every
project on the machine, one per Python + requirements), the project's step
cache (outputs of ``cache: true`` steps) and the project's run folders (each
run's data directory and logs). Each knows when it was last used; ``prune``
removes those unused for longer than asked, never what a live process uses.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from scanflow.home import Home, env_cache_dir
from scanflow.run.envs import LAST_USED_MARKER, READY_MARKER
from scanflow.run.leftovers import in_progress
from scanflow.run.state import RunState

ENVIRONMENT, STEP_OUTPUT, RUN = "environment", "step output", "run"


@dataclass(frozen=True)
class Kept:
    """One environment, cache entry or run folder: what it is, its size and when it was last used."""

    kind: str
    path: Path
    size: int
    last_used: float
    busy: bool = False  # a live process uses it: never pruned


def environments(root: Path | None = None) -> list[Kept]:
    root = root or env_cache_dir()
    if not root.is_dir():
        return []
    in_use = _folders_of_live_interpreters()
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):  # half-built ones too (a killed build)
        used = _mtime(folder / LAST_USED_MARKER) or _mtime(folder / READY_MARKER) or _mtime(folder)
        found.append(Kept(ENVIRONMENT, folder, _size(folder), used, busy=folder in in_use))
    return found


def step_outputs(home: Home) -> list[Kept]:
    root = home.cache_dir
    if not root.is_dir():
        return []
    entries = sorted(p for p in root.iterdir() if (p / "meta.json").is_file())
    return [Kept(STEP_OUTPUT, entry, _size(entry), _mtime(entry / "meta.json")) for entry in entries]


def run_folders(home: Home) -> list[Kept]:
    root = home.runs_dir
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if (p / "state.json").is_file()):
        try:
            state = RunState.load(folder)
        except (OSError, ValueError, KeyError, TypeError):  # a state written by a crash: judge by the folder
            found.append(Kept(RUN, folder, _size(folder), _mtime(folder)))
            continue
        used = max(t for t in (state.ended_at, state.resumed_at, state.created_at) if t is not None)
        found.append(Kept(RUN, folder, _size(folder), used, busy=in_progress(state)))
    return found


def prunable(kept: Iterable[Kept], older_than_s: float, now: float | None = None) -> list[Kept]:
    """Those of ``kept`` unused for more than ``older_than_s`` seconds and used by no live process."""
    now = time.time() if now is None else now
    return [k for k in kept if not k.busy and now - k.last_used > older_than_s]


def remove(kept: Iterable[Kept]) -> int:
    """Delete each folder; the bytes freed.

    An environment loses its ready marker first, so one half deleted (a crash,
    a file in use) is rebuilt by the next run instead of used.
    """
    freed = 0
    for item in kept:
        (item.path / READY_MARKER).unlink(missing_ok=True)
        shutil.rmtree(item.path, ignore_errors=True)
        if item.kind == ENVIRONMENT:  # the lock file build_once left beside it
            item.path.with_name(f"{item.path.name}.lock").unlink(missing_ok=True)
        freed += item.size
    return freed


def _folders_of_live_interpreters() -> set[Path]:
    """Environment folders whose interpreter a live process runs (a step running now)."""
    found = set()
    for process in psutil.process_iter(["exe", "cmdline"]):
        for text in [process.info.get("exe") or "", *(process.info.get("cmdline") or [])[:1]]:
            parts = Path(text).parts
            if len(parts) > 3 and parts[-2] == "bin":
                found.add(Path(*parts[:-2]))
    return found


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
