"""An ONNX model behind MLflow's pyfunc interface, as `scanflow optimize` logs it.

This file travels inside the model's folder (MLflow's models from code), so
the optimized model loads wherever MLflow and its runtime (ONNX Runtime or
OpenVINO) are installed, Scanflow or not. It answers like the model it was
converted from: a classifier's ``predict`` gives labels (``predict_proba``
the probabilities, columns in ``classes_`` order), a regressor's gives
values, and a network's gives its output tensor.

The model config (``model_config`` in MLmodel) says how: ``kind``
(classifier, regressor, tensor), ``input_name``, ``input_dtype``,
``label_output``/``proba_output`` (output positions), ``classes``,
``runtime`` and ``threads`` (0: the runtime's default).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import mlflow.pyfunc
import numpy as np
from mlflow.models import set_model

Session = Callable[[np.ndarray], list[np.ndarray]]


class OnnxModel(mlflow.pyfunc.PythonModel):
    """One ONNX graph, run by ONNX Runtime or OpenVINO on the CPU."""

    def load_context(self, context: Any) -> None:
        config = dict(context.model_config or {})
        self.load(context.artifacts["onnx_model"], config)

    def load(self, path: str, config: dict[str, Any]) -> None:
        self.config = config
        self.kind = config.get("kind", "tensor")
        self.runtime = config.get("runtime", "onnxruntime")
        self.input_dtype = np.dtype(config.get("input_dtype", "float32"))
        classes = config.get("classes")
        self.classes_ = None if classes is None else np.asarray(classes)
        self.n_features_in_ = config.get("n_features")
        threads = int(config.get("threads") or 0)
        runners = {"onnxruntime": _onnxruntime_session, "openvino": _openvino_session}
        if self.runtime not in runners:
            raise ValueError(f"unknown ONNX runtime '{self.runtime}'; use one of {', '.join(runners)}")
        self._run = runners[self.runtime](path, config.get("input_name", "X"), threads)
        # Like scikit-learn, only a model that gives probabilities has predict_proba.
        self.predict_proba = self._probabilities if config.get("proba_output") is not None else None

    # An ndarray hint is one MLflow takes as is: the signature checks the input (a DataFrame for tables).
    def predict(self, context: Any, model_input: np.ndarray, params: dict[str, Any] | None = None) -> Any:
        return self.predict_values(model_input)

    def predict_values(self, values: Any) -> np.ndarray:
        """What the original model's ``predict`` gives for ``values`` (rows of features)."""
        outputs = self._run(self._as_input(values))
        if self.kind == "classifier":
            return self._labels(outputs)
        if self.kind == "regressor":
            result = np.asarray(outputs[0])
            return result.ravel() if result.ndim == 2 and result.shape[1] == 1 else result
        return np.asarray(outputs[0])

    def _probabilities(self, values: Any) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        return np.asarray(self._run(self._as_input(values))[int(self.config["proba_output"])])

    def _labels(self, outputs: list[np.ndarray]) -> np.ndarray:
        labels = np.asarray(outputs[int(self.config["label_output"])]).ravel()
        if self.classes_ is not None and labels.dtype != self.classes_.dtype:
            labels = labels.astype(self.classes_.dtype, copy=False)
        return labels

    def _as_input(self, values: Any) -> np.ndarray:
        if hasattr(values, "to_numpy"):  # a pandas DataFrame, columns in the signature's order
            values = values.to_numpy()
        array = np.asarray(values, dtype=self.input_dtype)
        if array.ndim == 1 and self.kind != "tensor":
            array = array.reshape(1, -1)
        return np.ascontiguousarray(array)


def _onnxruntime_session(path: str, input_name: str, threads: int) -> Session:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    run = session.run
    return lambda array: run(None, {input_name: array})


def _openvino_session(path: str, input_name: str, threads: int) -> Session:
    import openvino

    core = openvino.Core()
    # Full precision: on CPUs with bf16 units OpenVINO would otherwise trade accuracy for speed.
    properties: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        properties["INFERENCE_NUM_THREADS"] = threads
    core.set_property("CPU", properties)
    compiled = core.compile_model(core.read_model(path), "CPU")
    outputs = compiled.outputs
    local = threading.local()  # an infer request serves one call at a time: one per thread

    def run(array: np.ndarray) -> list[np.ndarray]:
        request = getattr(local, "request", None)
        if request is None:
            request = local.request = compiled.create_infer_request()
        result = request.infer({0: array})
        return [np.array(result[output]) for output in outputs]

    return run


set_model(OnnxModel())
