"""Int8 weights for the matrix products of a network: smaller and faster, slightly less exact.

ONNX Runtime's dynamic quantization stores the weights of MatMul and Gemm
layers as 8-bit integers and quantizes activations on the fly. Answers move
a little (a network's scores more than its top class), so the agreement
check decides whether the result may replace the original; a graph without
such layers (a tree ensemble, a linear model made of ONNX-ML operators) has
nothing to quantize and is refused.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

from scanflow.errors import first_line
from scanflow.extras import require

_QUANTIZABLE_OPS = {"MatMul", "Gemm"}


class QuantizeError(ValueError):
    """The graph cannot be quantized: nothing in it to quantize, or the quantizer failed."""


def quantize_int8(graph: bytes) -> bytes:
    """``graph`` with int8 weights in its MatMul and Gemm layers."""
    require("onnxruntime.quantization", "optimize", "quantizing ONNX models")
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if not {node.op_type for node in onnx.load_from_string(graph).graph.node} & _QUANTIZABLE_OPS:
        raise QuantizeError(
            "--quantize has nothing to do: the model's ONNX graph has no MatMul or Gemm layer"
            " (tree ensembles and linear models convert to ONNX-ML operators). Leave --quantize out"
        )
    with tempfile.TemporaryDirectory(prefix="scanflow-quantize-") as folder:
        source, target = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(graph)
        quiet = logging.getLogger()
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # its advice to pre-process the graph first, on every call
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        except Exception as error:
            raise QuantizeError(f"ONNX Runtime cannot quantize the model: {first_line(error)}") from None
        finally:
            quiet.setLevel(level)
        return target.read_bytes()
