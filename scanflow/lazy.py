"""Lazy package attributes: ``import scanflow`` stays fast, ``scanflow.Workflow`` still works.

Heavy modules (pydantic models, MLflow, PyTorch) load on first use of a name
that needs them, so the CLI and plain imports pay only for what they touch.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from importlib import import_module
from typing import Any


def lazy_attributes(
    package: str, where: dict[str, str], namespace: MutableMapping[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__``: imports ``name`` from ``where[name]`` once, keeps it in ``namespace``."""

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(import_module(where[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module '{package}' has no attribute '{name}'")

    return __getattr__
