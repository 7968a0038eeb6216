"""Build a cached folder once, even when several runs ask for it at the same time."""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from pathlib import Path


def build_once(root: Path, key: str, ready: Callable[[], bool], build: Callable[[], None]) -> None:
    """Call ``build`` unless ``ready()``; a lock file in ``root`` makes a second run wait, then reuse."""
    if ready():
        return
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready():  # another run may have built it while this one waited
            build()
