"""Finding the model version a URI stands for in the MLflow model registry.

``models:/digits@champion`` follows an alias: the service asks the registry
which version it names now, and again every few seconds to hot-swap when it
moves. ``models:/digits/3`` pins a version; ``runs:/...``, ``models:/m-...``
and paths are used as they are. A folder MLflow downloaded from the registry
(it writes ``registered_model_meta`` there) keeps its registered name and
version, so a model packed into a serving image answers as ``digits/3`` too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanflow.errors import first_line
from scanflow.serve.errors import ServeSetupError

_REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))/?$")
REGISTERED_META = "registered_model_meta"  # MLflow's record of the registry version a download came from


@dataclass(frozen=True)
class ModelSource:
    """A model URI as the user gave it."""

    uri: str
    registered_name: str | None = None
    alias: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelSource:
        uri = uri.strip()
        if not uri:
            raise ServeSetupError("the model URI is empty; give e.g. models:/digits@champion")
        match = _REGISTERED.match(uri)
        if match:
            return cls(uri, match["name"], match["alias"], match["version"])
        return cls(uri)

    @property
    def follows_alias(self) -> bool:
        return self.alias is not None

    @property
    def default_name(self) -> str:
        """The name the service gives the model when the registry has none for it."""
        if self.registered_name:
            return self.registered_name
        tail = self.uri.rstrip("/").rsplit("/", 1)[-1] or "model"
        return tail if tail != "model" else Path(self.uri.rstrip("/")).parent.name or "model"


@dataclass(frozen=True)
class ModelVersionRef:
    """One exact model to load: a URI that does not move, and what to call it."""

    uri: str
    name: str
    version: str
    run_id: str | None = None


def missing_model_files(ref: ModelVersionRef) -> str:
    """Why a model without an MLmodel file cannot be loaded, in the words that fit where it came from.

    MLflow itself only names an MLmodel path in a temporary download folder.
    """
    if ref.version and ref.uri.startswith("models:/"):
        return (
            f"the files of {ref.name}/{ref.version} are missing from its artifact store (no MLmodel file)."
            " The run that logged it may have been deleted or its artifacts moved: register the model"
            " again, or point the alias at a version whose files exist"
        )
    return (
        f"{ref.uri} is not an MLflow model (no MLmodel file in it); give the URI of a logged model,"
        " e.g. models:/NAME@ALIAS or runs:/RUN_ID/model"
    )


class Registry:
    """The MLflow registry (and tracking store) the service reads models from."""

    def __init__(self, tracking_uri: str):
        self.tracking_uri = tracking_uri
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import mlflow

            from scanflow.track.store import TrackingError, open_client, require_reachable

            try:
                require_reachable(self.tracking_uri)
            except TrackingError as error:
                raise ServeSetupError(str(error)) from None
            self._client = open_client(self.tracking_uri)
            # pyfunc.load_model reads models:/ URIs from the process-wide registry: make it this one.
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.tracking_uri)
        return self._client

    def resolve(self, source: ModelSource) -> ModelVersionRef:
        """The exact version a source names now (the alias's target for ``name@alias``)."""
        if source.registered_name is None:
            if source.uri.startswith(("runs:/", "models:/")):
                _ = self.client  # these URIs are read from the tracking store
            name, version = registered_identity(source.uri) or (source.default_name, "")
            return ModelVersionRef(source.uri, name, version)
        name = source.registered_name
        client = self.client  # outside the try: an unreachable server is its own error
        try:
            if source.alias is not None:
                found = client.get_model_version_by_alias(name, source.alias)
            else:
                found = client.get_model_version(name, source.version)
        except Exception as error:
            raise ServeSetupError(self._explain(source, error)) from None
        return ModelVersionRef(f"models:/{name}/{found.version}", name, str(found.version), found.run_id)

    def current_version(self, source: ModelSource) -> str:
        """The version an alias names now (one cheap registry query)."""
        assert source.registered_name is not None and source.alias is not None
        return str(self.client.get_model_version_by_alias(source.registered_name, source.alias).version)

    def _explain(self, source: ModelSource, error: Exception) -> str:
        what = f"alias '{source.alias}'" if source.alias is not None else f"version {source.version}"
        reason = first_line(error)
        return (
            f"cannot find {what} of registered model '{source.registered_name}' in the registry at"
            f" {self.tracking_uri} ({reason}). Check the name, register the model, or point"
            " --tracking-uri / SCANFLOW_TRACKING_URI at the right store."
        )

    def experiment_of(self, run_id: str | None) -> str | None:
        """The experiment of the run that logged a model, if the store knows it."""
        if not run_id:
            return None
        try:
            return self.client.get_run(run_id).info.experiment_id
        except Exception:
            return None


def registered_identity(location: str) -> tuple[str, str] | None:
    """``(name, version)`` of a model folder MLflow downloaded from the registry, else None."""
    import yaml

    meta = Path(location).expanduser() / REGISTERED_META
    try:
        data = yaml.safe_load(meta.read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or not data.get("model_name"):
        return None
    return str(data["model_name"]), str(data.get("model_version") or "")
