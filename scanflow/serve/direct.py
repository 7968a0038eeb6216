"""Loading a scikit-learn model from its MLflow folder without importing MLflow.

The service calls a scikit-learn estimator itself (`model.py`), so all MLflow
adds when loading one is reading the MLmodel file and unpickling the
estimator, plus a second or two of importing itself. For the sklearn flavor as
MLflow writes it (skops, pickle or cloudpickle, no bundled code) this module
reads the same files the same way: the same format default, the same skops
trusted types. Anything else, including a store that turned unpickling off
with ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``, is left to MLflow, which
loads it or says why not.

Reading skops files is also where start-up time hides, so this module imports
skops the cheap way (`import_model_libraries_early`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scanflow.serve.signature import FreeInput, InputSpec, stored_input_spec

_FORMATS = ("skops", "pickle", "cloudpickle")


@dataclass(frozen=True)
class StoredEstimator:
    """A scikit-learn estimator read from an MLflow model folder, with what MLmodel says of it."""

    estimator: Any
    predict_name: str
    spec: InputSpec
    run_id: str | None


def load_estimator(folder: str | Path) -> StoredEstimator | None:
    """The estimator of a plain sklearn-flavor model folder; None when MLflow should load it."""
    folder = Path(folder)
    try:
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(mlmodel, dict) or not _unpickling_allowed():
        return None
    flavors = mlmodel.get("flavors") or {}
    pyfunc, sklearn = flavors.get("python_function") or {}, flavors.get("sklearn") or {}
    serialization = sklearn.get("serialization_format", "pickle")
    if (
        pyfunc.get("loader_module") != "mlflow.sklearn"
        or not pyfunc.get("model_path")
        or "data" in pyfunc
        or pyfunc.get("code")
        or sklearn.get("code")
        or serialization not in _FORMATS
    ):
        return None
    spec = _spec(mlmodel.get("signature"))
    if spec is None:
        return None
    estimator = _read(folder / pyfunc["model_path"], serialization, sklearn.get("skops_trusted_types"))
    return StoredEstimator(estimator, pyfunc.get("predict_fn") or "predict", spec, mlmodel.get("run_id"))


def _unpickling_allowed() -> bool:
    """MLflow's switch for reading pickled (and skops) models; on unless set to false."""
    return os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true").strip().lower() not in ("false", "0")


def _spec(signature: Any) -> InputSpec | None:
    if not signature or not signature.get("inputs"):
        return FreeInput()
    try:
        return stored_input_spec(json.loads(signature["inputs"]))
    except (TypeError, ValueError, KeyError):
        return None


def _read(path: Path, serialization: str, trusted: list[str] | None) -> Any:
    if serialization == "skops":
        import_model_libraries_early()
        import skops.io

        return skops.io.load(path, trusted=trusted)
    with path.open("rb") as stream:
        if serialization == "pickle":
            return pickle.load(stream)
        import cloudpickle

        return cloudpickle.load(stream)


def import_model_libraries_early() -> None:
    """Import skops, if installed, before MLflow: a third of the start-up time saved.

    MLflow 3 saves scikit-learn models with skops, and importing skops looks up
    each of several hundred NumPy/SciPy functions in every loaded module. Done
    before MLflow loads its thousands of modules, that scan takes about a
    second less; for models of other flavors it costs the import of
    scikit-learn.
    """
    if importlib.util.find_spec("skops") is not None:
        with _skipping_sklearn_torch_namespace():
            import skops.io  # noqa: F401


_SKLEARN_TORCH = "sklearn.externals.array_api_compat.torch"


@contextmanager
def _skipping_sklearn_torch_namespace() -> Iterator[None]:
    """Keep skops's walk over scikit-learn's packages from importing PyTorch (2-4 s).

    To list the types it trusts, skops imports every scikit-learn package,
    among them the array-API adapter for PyTorch, which imports PyTorch when it
    is installed. A placeholder stands in for that one adapter during the walk
    and is removed afterwards, so a later real use imports the real adapter.
    """
    if "torch" in sys.modules or _SKLEARN_TORCH in sys.modules or importlib.util.find_spec("torch") is None:
        yield
        return
    sys.modules[_SKLEARN_TORCH] = types.ModuleType(_SKLEARN_TORCH)
    try:
        yield
    finally:
        sys.modules.pop(_SKLEARN_TORCH, None)
