"""Models in the MLflow registry: load a version by alias, register a new one.

The improve loop needs class probabilities (for uncertainty strategies) and
plain predictions (for evaluation), so models load through their scikit-learn
flavour when they have one, as the ONNX model `scanflow optimize` made when
they are one, and through pyfunc otherwise (predictions only).
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from scanflow.errors import first_line
from scanflow.optimize.unwrap import onnx_model_of


class ModelError(LookupError):
    """A registered model or alias cannot be found or used."""


@dataclass
class LoadedModel:
    """A registered model version, loaded, with what it can answer."""

    name: str
    version: str
    run_id: str | None
    model: Any

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def classes(self) -> list[Any] | None:
        classes = getattr(self.model, "classes_", None)
        return None if classes is None else [c.item() if hasattr(c, "item") else c for c in classes]

    def predict(self, features: np.ndarray) -> np.ndarray:
        self._check_width(features)
        return np.asarray(self.model.predict(features))

    def predict_proba(self, features: np.ndarray) -> np.ndarray | None:
        """Class probabilities (columns in ``classes`` order), or None if the model gives none."""
        method = getattr(self.model, "predict_proba", None)
        if method is None:
            return None
        self._check_width(features)
        return np.asarray(method(features))

    def _check_width(self, features: np.ndarray) -> None:
        """Data of another width is another dataset: say which model and how wide, not sklearn's words."""
        expected = getattr(self.model, "n_features_in_", None)
        given = features.shape[1] if features.ndim == 2 else None
        if expected is not None and given is not None and given != expected:
            raise ModelError(
                f"{self.uri} takes {expected} features per sample, but the data has {given}:"
                " give data with the columns the model learnt from"
            )


def load_version(
    client: Any, name: str, *, alias: str | None = None, version: str | None = None
) -> LoadedModel:
    """Load a registered model by alias (``champion``) or version number."""
    import mlflow.pyfunc

    try:
        found = (
            client.get_model_version_by_alias(name, alias)
            if alias
            else client.get_model_version(name, version)
        )
    except Exception as error:
        which = f"alias '{alias}'" if alias else f"version {version}"
        raise ModelError(
            f"no version of registered model '{name}' with {which} in {client.tracking_uri}"
            f" ({first_line(error)}); register a model and set the alias, e.g."
            f" MlflowClient().set_registered_model_alias('{name}', '{alias or 'champion'}', 1)"
        ) from None
    # Download through this client's store: `models:/` URIs would go through MLflow's global URIs.
    import mlflow.artifacts
    import mlflow.models

    source = client.get_model_version_download_uri(name, found.version)
    with tempfile.TemporaryDirectory(prefix="scanflow-model-") as folder:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=folder, tracking_uri=client.tracking_uri
        )
        if "sklearn" in mlflow.models.Model.load(local).flavors:
            import mlflow.sklearn

            model = mlflow.sklearn.load_model(local)
        else:
            pyfunc = mlflow.pyfunc.load_model(local)
            model = onnx_model_of(pyfunc) or pyfunc  # an optimized model gives probabilities too
    return LoadedModel(name, str(found.version), found.run_id, model)


def register_model(client: Any, run_id: str, model: Any, name: str) -> str:
    """Save a scikit-learn model in a run's artifacts and register it as a new version of ``name``."""
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="scanflow-model-") as folder:
        # Explicit requirements: inferring them imports the model in a subprocess, seconds per save.
        requirements = mlflow.sklearn.get_default_pip_requirements()
        mlflow.sklearn.save_model(model, f"{folder}/model", pip_requirements=requirements)
        client.log_artifacts(run_id, f"{folder}/model", "model")
    with contextlib.suppress(MlflowException):  # already registered
        client.create_registered_model(name)
    source = f"{client.get_run(run_id).info.artifact_uri}/model"
    return str(client.create_model_version(name, source, run_id=run_id).version)
