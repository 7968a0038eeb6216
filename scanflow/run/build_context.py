"""The files an image is built from: collected once, hashed, and sent to the engine as a tar.

The hash of what goes in names the image, so an unchanged step needs no build
at all, and a build never has to guess whether its tag is stale.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import scanflow

# Folders and files of a workflow that never belong in an image.
SKIPPED_NAMES = {"__pycache__", "node_modules", "venv", "env"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")
GENERATED_MARKER = ".scanflow-generated"  # in folders Scanflow writes (exports): never part of the code
_CHUNK = 1 << 20


def code_files(root: Path) -> Iterator[tuple[str, Path]]:
    """``(relative path, file)`` of a code folder, sorted, without hidden or generated entries."""
    for directory, folders, files in os.walk(root):
        if GENERATED_MARKER in files:
            folders[:] = []
            continue
        folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in SKIPPED_NAMES)
        for name in sorted(files):
            if name.startswith(".") or name.endswith(SKIPPED_SUFFIXES):
                continue
            path = Path(directory, name)
            if path.is_file():
                yield path.relative_to(root).as_posix(), path


def scanflow_package() -> Path:
    """Scanflow's own package folder, copied into images for ``import scanflow`` and function steps."""
    return Path(scanflow.__file__).resolve().parent


@dataclass
class BuildContext:
    """A Dockerfile plus files placed at chosen paths of the context."""

    dockerfile: str
    entries: list[tuple[str, Path]] = field(default_factory=list)

    def add_tree(self, prefix: str, root: Path, files: Iterable[tuple[str, Path]] | None = None) -> None:
        for relative, path in files if files is not None else code_files(root):
            self.entries.append((f"{prefix}/{relative}", path))

    def add_file(self, name: str, path: Path) -> None:
        self.entries.append((name, path))

    def digest(self, *extra: str) -> str:
        """Hash of the Dockerfile, every file's path and content, and ``extra`` identity text."""
        digest = hashlib.sha256(self.dockerfile.encode())
        for text in extra:
            digest.update(b"\0" + text.encode())
        for name, path in sorted(self.entries):
            digest.update(b"\0" + name.encode() + b"\0" + _file_hash(path).encode())
        return digest.hexdigest()[:16]

    def tar(self) -> IO[bytes]:
        """The context as a tar archive (spooled to disk when large)."""
        buffer = tempfile.SpooledTemporaryFile(max_size=32 << 20)  # noqa: SIM115 - the caller closes it
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            data = self.dockerfile.encode()
            info = tarfile.TarInfo("Dockerfile")
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
            for name, path in sorted(self.entries):
                archive.add(path, arcname=name, recursive=False, filter=_normalised)
        buffer.seek(0)
        return buffer

    def write(self, folder: Path) -> None:
        """Lay the context out in ``folder`` (wheels hard-linked when the disk allows; code copied)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Dockerfile").write_text(self.dockerfile)
        for name, path in self.entries:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                if not path.name.endswith(".whl"):
                    raise OSError  # a link would let edits in the export reach the workflow's files
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Same content, same layer: drop owners and times the host happens to have."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o755 if info.mode & 0o111 else 0o644
    return info


_HASHES: dict[tuple[str, int, int], str] = {}


def _file_hash(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]
