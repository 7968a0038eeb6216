"""Turn an MLflow model folder into an ONNX graph, with what it takes to answer like the original.

scikit-learn models convert with skl2onnx (numeric input, one float tensor);
PyTorch models with ``torch.onnx.export`` through ``torch.export`` (so the
graphs MLflow 3 saves convert too), the batch axis left free. Either
way the original stays loaded beside it, called the way `scanflow serve`
calls it, so the check and the timing compare like with like.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from scanflow.errors import first_line
from scanflow.extras import require

INPUT_NAME = "X"
FLAVORS = ("sklearn", "pytorch")


class ConversionError(ValueError):
    """A model cannot be converted to ONNX; the message says why and what would work."""


@dataclass
class Converted:
    """An ONNX graph and the original model it must answer like."""

    onnx: bytes
    config: dict[str, Any]  # the model config `onnx_model.OnnxModel` reads
    predict: Callable[[np.ndarray], Any]  # the original, as the prediction service calls it
    predict_proba: Callable[[np.ndarray], Any] | None
    framework: str  # e.g. "scikit-learn 1.9.1"
    converter: str  # e.g. "skl2onnx 1.20.0"
    estimator: str  # the original's class name

    @property
    def kind(self) -> str:
        return str(self.config["kind"])


def convert(folder: Path, model: Any) -> Converted:
    """Convert the model in ``folder``; ``model`` is its MLmodel (`mlflow.models.Model`), read once."""
    flavors = model.flavors
    if "sklearn" in flavors:
        return _from_sklearn(folder, _input_width(model))
    if "pytorch" in flavors:
        return _from_pytorch(folder, model)
    named = ", ".join(sorted(name for name in flavors if name != "python_function")) or "python_function"
    raise ConversionError(
        f"cannot convert a model of flavor {named} to ONNX: Scanflow converts scikit-learn and PyTorch"
        " models (MLflow flavors sklearn and pytorch). Export other models to ONNX with their"
        " framework's tools"
    )


def _from_sklearn(folder: Path, input_width: int | None) -> Converted:
    skl2onnx = require("skl2onnx", "optimize", "converting scikit-learn models to ONNX")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier, is_regressor

    estimator = _load_sklearn(folder)
    width = getattr(estimator, "n_features_in_", None) or input_width
    if width is None:
        raise ConversionError(
            "cannot tell how many features the model takes: it has no n_features_in_ and its MLflow"
            " signature names none. Log the model with an input_example"
        )
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    classifier = is_classifier(estimator)
    options = {id(final): {"zipmap": False}} if classifier else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = skl2onnx.convert_sklearn(
                estimator, initial_types=[(INPUT_NAME, FloatTensorType([None, int(width)]))], options=options
            )
    except Exception as error:
        raise ConversionError(
            f"skl2onnx cannot convert {type(estimator).__name__}: {first_line(error)}. Scanflow converts"
            " the estimators skl2onnx supports, on numeric input (one column per feature)"
        ) from None
    config: dict[str, Any] = {"input_name": INPUT_NAME, "input_dtype": "float32", "n_features": int(width)}
    proba = getattr(estimator, "predict_proba", None)
    if classifier:
        classes = np.asarray(estimator.classes_)
        config.update(kind="classifier", label_output=0, classes=classes.tolist())
        if proba is not None:
            config["proba_output"] = 1
    else:
        config["kind"] = "regressor" if is_regressor(estimator) else "tensor"
    return Converted(
        graph.SerializeToString(),
        config,
        estimator.predict,
        proba if classifier else None,
        f"scikit-learn {version('scikit-learn')}",
        f"skl2onnx {version('skl2onnx')}",
        type(estimator).__name__,
    )


def _load_sklearn(folder: Path) -> Any:
    from scanflow.serve.direct import load_estimator

    try:
        stored = load_estimator(folder)
        if stored is not None:
            return stored.estimator
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(folder))
    except Exception as error:
        raise ConversionError(f"cannot load the scikit-learn model: {first_line(error)}") from None


def _input_width(model: Any) -> int | None:
    """The feature count the model's signature names: one tensor's second axis, or its columns."""
    schema = model.get_input_schema()
    if schema is None:
        return None
    inputs = schema.inputs
    if len(inputs) == 1 and hasattr(inputs[0], "shape") and len(inputs[0].shape) == 2:
        width = int(inputs[0].shape[1])
        return width if width > 0 else None
    return len(inputs) or None


def _from_pytorch(folder: Path, model: Any) -> Converted:
    torch = require("torch", "deep", "converting PyTorch models to ONNX")
    import mlflow.pytorch

    shape, dtype = _tensor_input(model)
    try:
        network = mlflow.pytorch.load_model(str(folder), map_location="cpu")
    except Exception as error:
        raise ConversionError(f"cannot load the PyTorch model: {first_line(error)}") from None
    with contextlib.suppress(Exception):  # a torch.export graph (MLflow's default) is in eval mode already
        network.eval()
    example = torch.zeros((1, *shape[1:]), dtype=getattr(torch, dtype))
    try:
        with warnings.catch_warnings(), _quiet("torch.onnx", "torch.export", "torch._dynamo"):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                network,
                (example,),
                dynamo=True,  # torch.export: also takes the graphs MLflow 3 saves (model.pt2)
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                input_names=[INPUT_NAME],
                output_names=["output"],
                verbose=False,
            )
            graph = program.model_proto.SerializeToString()
    except Exception as error:
        raise ConversionError(
            f"torch.onnx.export cannot export {_network_name(network)}: {first_line(error)}"
        ) from None

    def predict(values: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(np.ascontiguousarray(values, dtype=dtype))).numpy()

    return Converted(
        graph,
        {"kind": "tensor", "input_name": INPUT_NAME, "input_dtype": dtype, "input_shape": list(shape[1:])},
        predict,
        None,
        f"PyTorch {torch.__version__.split('+')[0]}",
        f"torch.onnx {torch.__version__.split('+')[0]}",
        _network_name(network),
    )


def _network_name(network: Any) -> str:
    """The network's class, or what it is when MLflow saved it as a graph (its class is then gone)."""
    name = type(network).__name__
    return "torch.export graph" if "GraphModule" in name else name


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Keep an exporter's progress notes and warnings about absent extras (torchvision) off the console."""
    saved = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _tensor_input(model: Any) -> tuple[tuple[int, ...], str]:
    """The shape and dtype of a PyTorch model's one input tensor, from its MLflow signature."""
    schema = model.get_input_schema()
    inputs = schema.inputs if schema is not None else []
    if len(inputs) != 1 or not hasattr(inputs[0], "shape"):
        raise ConversionError(
            "the PyTorch model's MLflow signature does not name one input tensor, so its input shape is"
            " unknown: log it with input_example=<an array of a few inputs> or an explicit signature"
        )
    spec = inputs[0]
    dtype = np.dtype(spec.type).name
    if dtype not in ("float32", "float64"):
        dtype = "float32"
    return tuple(int(d) for d in spec.shape), dtype
