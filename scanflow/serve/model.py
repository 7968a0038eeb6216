"""A model loaded once through MLflow pyfunc, with the fastest safe way to call it.

For scikit-learn models the service calls the estimator itself on input the
`signature` module already checked, skipping MLflow's second schema check
(most of the time of a one-row prediction), and so for ONNX models that
`scanflow optimize` made; any other flavor goes through
``PyFuncModel.predict``. Probabilities, when the estimator gives them, are
computed later and in batches by the prediction log, off the request path.
"""

from __future__ import annotations

import inspect
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scanflow.errors import first_line
from scanflow.optimize.unwrap import onnx_model_of
from scanflow.serve.direct import load_estimator
from scanflow.serve.errors import ServeSetupError
from scanflow.serve.registry import ModelVersionRef
from scanflow.serve.signature import InputSpec, TableInput, TensorInput, input_spec

log = logging.getLogger("scanflow.serve")


@dataclass
class LoadedModel:
    """One model version in memory, ready to predict."""

    name: str
    version: str
    uri: str
    run_id: str | None
    spec: InputSpec
    predict_fn: Callable[..., Any]
    takes_params: bool = False
    proba_fn: Callable[[Any], Any] | None = None
    classes: list[Any] | None = None
    inline: bool = False  # cheap enough to call on the event loop (a scikit-learn estimator)
    loaded_at: float = field(default_factory=time.time)
    load_seconds: float = 0.0

    def predict(self, values: Any, params: dict[str, Any] | None = None) -> Any:
        if params and self.takes_params:
            return self.predict_fn(values, params=params)
        return self.predict_fn(values)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}" if self.version else self.name

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "run_id": self.run_id,
            "loaded_at": self.loaded_at,
            "load_seconds": round(self.load_seconds, 3),
            "input": self.spec.describe(),
        }


def load_model(ref: ModelVersionRef, folder: str | None = None) -> LoadedModel:
    """Load one model version, from ``folder`` when it is downloaded already.

    `ServeSetupError` says why it cannot be served.
    """
    started = time.perf_counter()
    parts = _from_folder(ref, folder) if folder else None
    if parts is None:
        parts = _through_mlflow(ref, folder or ref.uri)
    raw, spec = parts.raw, parts.spec
    model = LoadedModel(
        name=ref.name,
        version=ref.version or (f"run-{parts.run_id[:8]}" if parts.run_id else ""),
        uri=ref.uri,
        run_id=ref.run_id or parts.run_id,
        spec=spec,
        predict_fn=parts.predict_fn,
        takes_params=parts.takes_params,
        proba_fn=getattr(raw, "predict_proba", None),
        classes=_classes(raw),
        inline=raw is not None,
    )
    if raw is not None and isinstance(spec, TableInput) and spec.numeric and spec.named:
        spec.array_ok = _takes_arrays(parts.predict_fn, spec)
    _warm_up(model)
    model.load_seconds = time.perf_counter() - started
    log.info("loaded %s from %s in %.2f s", model.label, ref.uri, model.load_seconds)
    return model


@dataclass(frozen=True)
class _Parts:
    """What loading a model gives: how to call it and what it takes."""

    spec: InputSpec
    predict_fn: Callable[..., Any]
    takes_params: bool
    raw: Any  # the scikit-learn estimator, when the service calls it itself
    run_id: str | None


def _from_folder(ref: ModelVersionRef, folder: str) -> _Parts | None:
    """A plain scikit-learn model read without MLflow (`direct.py`); None for any other model."""
    try:
        stored = load_estimator(folder)
    except ImportError as error:
        raise _missing_library(ref, error) from None
    except Exception as error:
        raise ServeSetupError(f"cannot load the model {ref.uri}: {first_line(error)}") from None
    if stored is None:
        return None
    function = getattr(stored.estimator, stored.predict_name, None)
    if function is None:
        return None
    return _Parts(stored.spec, function, False, stored.estimator, stored.run_id)


def _through_mlflow(ref: ModelVersionRef, location: str) -> _Parts:
    try:
        import mlflow.pyfunc

        pyfunc = mlflow.pyfunc.load_model(location)
    except ImportError as error:
        raise _missing_library(ref, error) from None
    except Exception as error:
        raise ServeSetupError(f"cannot load the model {ref.uri}: {first_line(error)}") from None
    predict_fn, takes_params, raw = _predict_function(pyfunc)
    spec = input_spec(pyfunc.metadata.get_input_schema())
    return _Parts(spec, predict_fn, takes_params, raw, pyfunc.metadata.run_id)


def _missing_library(ref: ModelVersionRef, error: ImportError) -> ServeSetupError:
    return ServeSetupError(
        f"cannot load {ref.uri}: {error}. Install the libraries the model needs"
        " (see its requirements.txt), e.g. pip install 'scanflow[serve]'"
    )


def _predict_function(pyfunc: Any) -> tuple[Callable[..., Any], bool, Any]:
    flavor = pyfunc.metadata.flavors.get("python_function", {})
    if flavor.get("loader_module") == "mlflow.sklearn":
        raw = pyfunc.get_raw_model()
        function = getattr(raw, flavor.get("predict_fn") or "predict", None)
        if function is not None:
            return function, False, raw
    onnx = onnx_model_of(pyfunc)  # an optimized model answers like an estimator: call it so
    if onnx is not None:
        return onnx.predict_values, False, onnx
    takes_params = "params" in inspect.signature(pyfunc.predict).parameters
    return pyfunc.predict, takes_params, None


def _takes_arrays(predict: Callable[[Any], Any], spec: TableInput) -> bool:
    """Whether the estimator gives the same answers for an array in column order as for the table.

    True for plain estimators (they only warn that the array has no column
    names, a warning silenced here); False for pipelines that pick columns by
    name, which fail on arrays.
    """
    import pandas as pd

    probe = np.zeros((3, len(spec.columns)), dtype=spec.dtype)
    probe[1] = 1
    probe[2] = np.arange(len(spec.columns)) % 7
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from_array = np.asarray(predict(probe))
            from_table = np.asarray(predict(pd.DataFrame(probe, columns=spec.names)))
    except Exception:
        return False
    if from_array.shape != from_table.shape or not np.array_equal(from_array, from_table):
        return False
    warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
    return True


def _classes(raw: Any) -> list[Any] | None:
    classes = getattr(raw, "classes_", None)
    return None if classes is None else np.asarray(classes).tolist()


def _warm_up(model: LoadedModel) -> None:
    """One prediction on zeros, so the first request after a load or swap is not the slow one."""
    spec = model.spec
    try:
        if (
            isinstance(spec, TableInput)
            and spec.names
            and all(c.kind in ("float", "int") for c in spec.columns)
        ):
            from scanflow.serve.payload import Payload

            row = [0.0 if c.kind == "float" else 0 for c in spec.columns]
            model.predict(
                spec.prepare(Payload("dataframe_split", {"columns": spec.names, "data": [row]})).values
            )
        elif isinstance(spec, TensorInput):
            shape = tuple(1 if d == -1 else d for d in spec.shape)
            model.predict(np.zeros(shape, dtype=spec.dtype))
    except Exception:  # a model that rejects zeros is not broken
        log.debug("warm-up prediction of %s failed", model.label, exc_info=True)
