"""Optimization as a workflow step, between the step that registers a model and the one that serves it.

    - executor: optimize
      function: scanflow.optimize:optimize_step
      env_manager: current
      depends_on: [evaluate]
      parameters: {model: "models:/digits@champion", data: test.npz, alias: fast}

The step works in the run's MLflow store (the one its own run lives in), reads
``data`` from the run's data folder, logs the check and the timings as its
own metrics, and fails with the reason when the optimized model does not
answer like the original, so the steps after it do not deploy it.
"""

from __future__ import annotations

import os
from typing import Any

from scanflow.optimize.optimize import OptimizeError, optimize_model


def optimize_step(
    model: str,
    data: str | None = None,
    runtime: str = "onnxruntime",
    threads: int = 0,
    min_agreement: float = 0.999,
    tolerance: float = 1e-3,
    quantize: bool = False,
    compare: str = "values",
    register: str | None = None,
    alias: str | None = None,
) -> dict[str, Any]:
    """Optimize ``model`` in the run's store; see `optimize_model` for the parameters."""
    from scanflow import log

    try:
        result = optimize_model(
            model,
            data=data,
            runtime=runtime,
            threads=threads,
            min_agreement=min_agreement,
            tolerance=tolerance,
            quantize=quantize,
            compare=compare,
            register=register,
            alias=alias,
            tracking_uri=os.environ.get("MLFLOW_TRACKING_URI"),  # the run's store, where the model is
            report=print,
        )
    except OptimizeError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"checked on {result.data}: {result.agreement.summary()}")
    print(
        f"one row {result.before.one_row * 1e6:.0f} µs -> {result.after.one_row * 1e6:.0f} µs"
        f" ({result.one_row_speedup:.1f}x); registered as {result.served_uri}"
        + (f", alias '{alias}'" if result.alias else "")
    )
    log.log_metrics(
        {
            "agreement": result.agreement.fraction,
            "one_row_speedup": result.one_row_speedup,
            "batch_speedup": result.batch_speedup,
        }
    )
    log.set_tag("scanflow.optimized_model", result.served_uri)
    return {
        "model_uri": result.served_uri,
        "agreement": result.agreement.fraction,
        "one_row_speedup": result.one_row_speedup,
        "batch_speedup": result.batch_speedup,
    }
