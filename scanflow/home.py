"""Where Scanflow keeps its files: the project's `.scanflow/` and the user's env cache.

A project's runs, step cache and embedded MLflow store live in `.scanflow/` of
the current directory (or ``SCANFLOW_HOME``), like `.git`; environments are
shared by every project of the user, so they live in the user's cache folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TRACKING_URI_VARIABLE = "SCANFLOW_TRACKING_URI"


@dataclass(frozen=True)
class Home:
    """The `.scanflow/` folder of a project."""

    root: Path

    @classmethod
    def resolve(cls, root: str | Path | None = None) -> Home:
        if root is None:
            root = os.environ.get("SCANFLOW_HOME") or Path.cwd() / ".scanflow"
        return cls(Path(root).resolve())

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def embedded_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db}"

    def tracking_uri(self, explicit: str | None = None) -> str:
        """The tracking URI to use: explicit, else ``SCANFLOW_TRACKING_URI``, else embedded SQLite."""
        return explicit or os.environ.get(TRACKING_URI_VARIABLE) or self.embedded_tracking_uri


def env_cache_dir() -> Path:
    """Folder of cached per-step virtual environments, shared across projects."""
    explicit = os.environ.get("SCANFLOW_ENV_CACHE")
    if explicit:
        return Path(explicit).resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scanflow" / "envs"


def sqlite_file(url: str) -> Path | None:
    """The file a ``sqlite:///`` URL names; None for other databases and in-memory SQLite."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///")).expanduser()
    return None
