"""Imports of optional dependencies, failing with the extra that provides them."""

from __future__ import annotations

from types import ModuleType

from scanflow.extras import require


def import_optional(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ``MissingExtraError`` (an ImportError) naming ``scanflow[extra]``."""
    return require(module, extra, "this checker")
