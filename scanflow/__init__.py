"""Scanflow: define ML workflows once, run them anywhere, track, serve, check and improve them.

Importing ``scanflow`` is cheap: the spec classes and helpers load on first use,
so step code can ``import scanflow`` for its logging helpers in any environment.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Deployment": "scanflow.spec",
    "Executor": "scanflow.spec",
    "Workflow": "scanflow.spec",
    "Resources": "scanflow.spec",
    "SpecError": "scanflow.spec",
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
    from scanflow.run.runner import resume_run, run_workflow
    from scanflow.spec import Deployment, Executor, Resources, SpecError, Workflow


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'scanflow' has no attribute '{name}'")
