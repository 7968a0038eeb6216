"""Model optimisation between training and serving: ONNX graphs run by ONNX Runtime or OpenVINO.

Needs the ``scanflow[optimize]`` extra (``scanflow[openvino]`` for OpenVINO).
"""

from __future__ import annotations

from scanflow.lazy import lazy_attributes

_LAZY = {
    "RUNTIMES": "scanflow.optimize.optimize",
    "OptimizeError": "scanflow.optimize.optimize",
    "OptimizeResult": "scanflow.optimize.optimize",
    "optimize_model": "scanflow.optimize.optimize",
    "optimize_step": "scanflow.optimize.step",
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY, globals())
