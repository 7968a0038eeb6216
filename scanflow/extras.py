"""Optional extras: import a module a feature needs, or say which extra installs it.

``pip install scanflow`` stays light; features that need heavy packages ask
for them here, so the error names the extra to install instead of a bare
``ModuleNotFoundError`` from deep inside a call.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """A feature needs an optional extra that is not installed."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise ``MissingExtraError`` naming ``scanflow[extra]``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise MissingExtraError(
            f"{feature} needs '{error.name}', which is not installed."
            f" Install it with: pip install 'scanflow[{extra}]'"
        ) from None
