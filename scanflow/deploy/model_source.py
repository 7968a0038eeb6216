"""The model a deployment serves: which exact version a URI names, its files and its requirements.

An alias is resolved once, at deploy time (``models:/digits@champion`` ->
version 3), so the image holds that version and says so; deploying again after
a promotion builds the next one. The files are downloaded through MLflow, which
notes the registered name and version beside them (the service reads that note).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scanflow.deploy.errors import DeployError

if TYPE_CHECKING:
    from scanflow.serve.registry import ModelVersionRef

REQUIREMENTS_FILE = "requirements.txt"  # what MLflow writes beside every model it logs


@dataclass(frozen=True)
class ModelToServe:
    """One model version on this host, ready to be packed or served."""

    uri: str  # as the user gave it
    name: str
    version: str  # the registry version, "" when not registered
    run_id: str | None
    folder: Path
    requirements: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}" if self.version else self.name


def resolve_model(uri: str, tracking_uri: str) -> ModelVersionRef:
    """The exact model ``uri`` names now in the registry at ``tracking_uri``; `DeployError` if none."""
    from scanflow.serve.errors import ServeSetupError
    from scanflow.serve.registry import ModelSource, Registry

    try:
        with mlflow_pointed_at(tracking_uri):
            return Registry(tracking_uri).resolve(ModelSource.parse(uri))
    except ServeSetupError as error:
        raise DeployError(str(error)) from None


@contextlib.contextmanager
def mlflow_pointed_at(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking and registry URIs at ``uri`` for the block, then as they were.

    MLflow reads ``models:/`` URIs from its process-wide registry, and
    ``mlflow.set_tracking_uri`` / ``set_registry_uri`` also export
    ``MLFLOW_TRACKING_URI`` and ``MLFLOW_REGISTRY_URI``: a deployment made
    from a workflow run must not send the run's later steps to another store.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    variables = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = {name: os.environ.get(name) for name in variables}
    tracking, registry = tracking_utils._tracking_uri, registry_utils._registry_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        if tracking_utils._tracking_uri != tracking:
            tracking_utils.set_tracking_uri(tracking)
        registry_utils._registry_uri = registry
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def fetch_model(uri: str, tracking_uri: str, into: Path) -> ModelToServe:
    """Resolve ``uri`` in the registry at ``tracking_uri`` and download its files into ``into``."""
    from scanflow.serve.registry import missing_model_files, registered_identity

    ref = resolve_model(uri, tracking_uri)
    folder = into / "model"
    local = Path(ref.uri).expanduser()
    if local.is_dir():
        shutil.copytree(local, folder)
    else:
        with mlflow_pointed_at(tracking_uri):
            _download(ref.uri, tracking_uri, folder)
    if not (folder / "MLmodel").is_file():
        raise DeployError(f"cannot deploy {uri}: {missing_model_files(ref)}")
    name, version = ref.name, ref.version
    if not version:
        name, version = registered_identity(str(folder)) or (name, version)
    return ModelToServe(uri, name, version, ref.run_id, folder, read_model_requirements(folder))


def _download(uri: str, tracking_uri: str, folder: Path) -> None:
    from mlflow.artifacts import download_artifacts

    from scanflow.errors import first_line
    from scanflow.track.store import quiet_mlflow

    quiet_mlflow()
    folder.mkdir(parents=True)
    try:
        download_artifacts(
            artifact_uri=uri, dst_path=str(folder), tracking_uri=tracking_uri, registry_uri=tracking_uri
        )
    except Exception as error:
        reason = first_line(error)[:300]
        raise DeployError(
            f"cannot download the model {uri} from {tracking_uri} ({reason}). Check the URI, or point"
            " --tracking-uri / SCANFLOW_TRACKING_URI at the store that holds it."
        ) from None


def read_model_requirements(folder: Path) -> tuple[str, ...]:
    """The requirement lines MLflow recorded for the model (none when it recorded none)."""
    path = folder / REQUIREMENTS_FILE
    if not path.is_file():
        return ()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return tuple(line for line in lines if line and not line.startswith(("-c ", "--constraint")))
