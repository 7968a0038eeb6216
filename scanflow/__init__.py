"""Scanflow: define ML workflows once, run them anywhere, track, serve, check and improve them.

Importing ``scanflow`` is cheap: the spec classes and helpers load on first use,
so step code can ``import scanflow`` for its logging helpers in any environment.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from scanflow.lazy import lazy_attributes

__version__ = "0.1.0"

# Runs, models and data stay where the user put them: MLflow's usage reports to its makers are off in
# Scanflow's processes and the steps, servers and containers they start, unless the user set the variable.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

_LAZY = {
    "Deployment": "scanflow.spec",
    "Executor": "scanflow.spec",
    "Workflow": "scanflow.spec",
    "Resources": "scanflow.spec",
    "SpecError": "scanflow.spec",
    "RunFailed": "scanflow.run.result",
    "run_workflow": "scanflow.run.runner",
    "resume_run": "scanflow.run.runner",
    "log_metric": "scanflow.log",
    "log_metrics": "scanflow.log",
    "log_param": "scanflow.log",
    "log_params": "scanflow.log",
    "log_artifact": "scanflow.log",
    "set_tag": "scanflow.log",
    "data_dir": "scanflow.log",
}

__all__ = [
    "Deployment",
    "Executor",
    "Resources",
    "RunFailed",
    "SpecError",
    "Workflow",
    "data_dir",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "resume_run",
    "run_workflow",
    "set_tag",
]

if TYPE_CHECKING:
    from scanflow.log import (
        data_dir,
        log_artifact,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        set_tag,
    )
    from scanflow.run.result import RunFailed
    from scanflow.run.runner import resume_run, run_workflow
    from scanflow.spec import Deployment, Executor, Resources, SpecError, Workflow


__getattr__ = lazy_attributes(__name__, _LAZY, globals())
