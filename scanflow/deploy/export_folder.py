"""Where an export may write: a new or empty folder, or one an earlier export wrote.

Exports overwrite what they write and mark the folder as generated, so code
scans skip it. Both are harmful in the wrong place: a user's own
``docker-compose.yml`` would be lost, and a marked workflow folder would give
images without code. So a folder is taken only when nothing in it can be lost.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from scanflow.run.build_context import GENERATED_MARKER


class ExportError(ValueError):
    """An export cannot write where it was asked to; the message names a folder that works."""


def prepare_export_folder(folder: Path, code_dir: Path, written: Iterable[str], command: str) -> None:
    """Make ``folder`` ready for ``command``'s files, removing what an earlier export of it wrote.

    ``written`` names the files and folders the export writes at the top of
    ``folder``; an earlier export's copies go, so a step removed from the
    workflow leaves no stale build context. Anything else a person put there stays.
    """
    target = folder.resolve()
    code = code_dir.resolve()
    if target.exists() and not target.is_dir():
        raise ExportError(f"'{folder}' is a file; --output takes a folder (a new one is created)")
    if target == code or target in code.parents:
        raise ExportError(
            f"'{folder}' holds the workflow's code ({code_dir}): an export there would be mixed"
            " with it and left out of its images. Give a folder of its own, e.g. --output compose"
        )
    marker = target / GENERATED_MARKER
    if target.is_dir() and any(target.iterdir()) and not marker.exists():
        raise ExportError(
            f"'{folder}' is not empty and no earlier `{command}` wrote it; nothing in it is"
            " overwritten. Give a new or empty folder, or empty this one"
        )
    for name in written:
        path = target / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"written by `{command}`; not workflow code\n")
