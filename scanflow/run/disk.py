"""What Scanflow keeps on disk between runs, and pruning what has not been used for a while.

Four kinds of things grow with use: step environments (shared by every
project on the machine, one per Python + requirements), the project's step
cache (outputs of ``cache: true`` steps), the project's run folders (each
run's data directory and logs) and, with Docker, the images Scanflow built
(for steps, deployments and trackers). Each knows when it was last used (an
image: when it was built); ``prune`` removes those unused for longer than
asked, never what a live process or a container uses. All but run folders are
rebuilt when needed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from scanflow.home import Home, env_cache_dir
from scanflow.run.docker_engine import LABEL_KIND
from scanflow.run.envs import LAST_USED_MARKER, READY_MARKER
from scanflow.run.leftovers import in_progress
from scanflow.run.state import RunState

ENVIRONMENT, STEP_OUTPUT, RUN, IMAGE = "environment", "step output", "run", "image"


@dataclass(frozen=True)
class Kept:
    """One environment, cache entry, run folder or image: its size and when it was last used."""

    kind: str
    where: str  # the folder, or the image's tag
    size: int  # an image: the bytes only it holds (layers it shares with others are not freed with it)
    last_used: float
    busy: bool = False  # a live process or a container uses it: never pruned
    image_id: str | None = None
    tags: tuple[str, ...] = ()  # an image's names: removing the last one removes it

    @property
    def path(self) -> Path:
        return Path(self.where)


def environments(root: Path | None = None) -> list[Kept]:
    root = root or env_cache_dir()
    if not root.is_dir():
        return []
    in_use = _folders_of_live_interpreters()
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):  # half-built ones too (a killed build)
        used = _mtime(folder / LAST_USED_MARKER) or _mtime(folder / READY_MARKER) or _mtime(folder)
        found.append(Kept(ENVIRONMENT, str(folder), _size(folder), used, busy=folder in in_use))
    return found


def step_outputs(home: Home) -> list[Kept]:
    root = home.cache_dir
    if not root.is_dir():
        return []
    entries = sorted(p for p in root.iterdir() if not p.name.startswith(".") and (p / "meta.json").is_file())
    return [Kept(STEP_OUTPUT, str(entry), _size(entry), _mtime(entry / "meta.json")) for entry in entries]


def run_folders(home: Home) -> list[Kept]:
    root = home.runs_dir
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if (p / "state.json").is_file()):
        try:
            state = RunState.load(folder)
        except (OSError, ValueError, KeyError, TypeError):  # a state written by a crash: judge by the folder
            found.append(Kept(RUN, str(folder), _size(folder), _mtime(folder)))
            continue
        used = max(t for t in (state.ended_at, state.resumed_at, state.created_at) if t is not None)
        found.append(Kept(RUN, str(folder), _size(folder), used, busy=in_progress(state)))
    return found


def images(client: Any) -> list[Kept]:
    """Images Scanflow built (they carry its kind label), newest first; in use when a container has one."""
    found = []
    for image in client.df().get("Images") or []:
        if LABEL_KIND not in (image.get("Labels") or {}):
            continue  # a base image or anyone else's: never ours to remove
        tags = tuple(t for t in image.get("RepoTags") or [] if t != "<none>:<none>")
        name = tags[0] if tags else image["Id"][7:19]
        unique = max(0, int(image.get("Size") or 0) - max(0, int(image.get("SharedSize") or 0)))
        busy = int(image.get("Containers") or 0) > 0
        used = float(image["Created"])
        found.append(Kept(IMAGE, name, unique, used, busy=busy, image_id=image["Id"], tags=tags))
    return sorted(found, key=lambda k: -k.last_used)  # children before the images they are built on


def prunable(kept: Iterable[Kept], older_than_s: float, now: float | None = None) -> list[Kept]:
    """Those of ``kept`` unused for more than ``older_than_s`` seconds and used by no live process."""
    now = time.time() if now is None else now
    return [k for k in kept if not k.busy and now - k.last_used > older_than_s]


def remove(kept: Iterable[Kept], client: Any = None) -> int:
    """Delete each item (a folder, or an image through the Docker ``client``); the bytes freed.

    An environment loses its ready marker first, so one half deleted (a crash,
    a file in use) is rebuilt by the next run instead of used.
    """
    freed = 0
    for item in kept:
        if item.kind == IMAGE:
            freed += _remove_image(client, item)
            continue
        (item.path / READY_MARKER).unlink(missing_ok=True)
        shutil.rmtree(item.path, ignore_errors=True)
        if item.kind == ENVIRONMENT:  # the lock file build_once left beside it
            item.path.with_name(f"{item.path.name}.lock").unlink(missing_ok=True)
        freed += item.size
    return freed


def _remove_image(client: Any, item: Kept) -> int:
    from docker.errors import APIError

    try:
        for name in item.tags or (item.image_id,):  # untagging the last name removes the image
            client.images.remove(name, force=False)
    except APIError:  # used since it was listed, or the base of an image kept: left alone
        return 0
    return item.size


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
