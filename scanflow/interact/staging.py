"""A workflow step that puts the labelled data file into the run's data directory.

The improve loop runs a workflow's training step on a run of its own; this
step goes first, so the training step finds the labelled samples as a plain
file in its working directory, like any other input. Standard library only.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_into_data_dir(source: str, target: str) -> dict[str, int]:
    """Copy ``source`` (an absolute path) to ``target`` in the data directory (the cwd)."""
    destination = Path(target)
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    return {"labelled_bytes": destination.stat().st_size}
