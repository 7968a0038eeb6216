"""Reach the ONNX model inside a loaded pyfunc, to call it the way scikit-learn models are called.

The prediction service and the improve loop call a scikit-learn estimator
directly (labels, probabilities, classes); an optimized model offers the same
three, so they call it directly too instead of going through MLflow's checks.
"""

from __future__ import annotations

from typing import Any


def onnx_model_of(pyfunc: Any) -> Any | None:
    """The `OnnxModel` a pyfunc wraps, or None for any other model."""
    try:
        inner = pyfunc.unwrap_python_model()  # raises for models of other flavors
    except Exception:
        return None
    if type(inner).__name__ == "OnnxModel" and callable(getattr(inner, "predict_values", None)):
        return inner
    return None
