"""Imports of optional dependencies, failing with the extra that provides them."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType


def import_optional(module: str, extra: str) -> ModuleType:
    """Import ``module`` or explain which Scanflow extra to install."""
    try:
        return import_module(module)
    except ImportError:
        raise ImportError(
            f"this checker needs '{module.split('.')[0]}', which is not installed:"
            f" pip install 'scanflow[{extra}]'"
        ) from None
