"""Objects named by ``"package.module:name"`` paths: plugins, training functions, strategies.

One place turns such a path into the object, so every option that takes one
(``--detector``, ``--strategy``, ``--fit``) finds modules of the project folder
and fails the same clear way.
"""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path
from typing import Any


class ObjectPathError(ImportError, ValueError):
    """A ``"package.module:name"`` path that leads to no object: a failed import and a bad value."""


def is_object_path(text: str) -> bool:
    """Whether ``text`` looks like ``"package.module:name"``."""
    module, colon, attribute = text.partition(":")
    return bool(colon and module and attribute) and "/" not in text and "\\" not in text


def import_object(path: str) -> Any:
    """The object ``path`` names; the error says which part is missing."""
    module_name, colon, attribute = path.partition(":")
    if not (colon and module_name and attribute):
        raise ObjectPathError(f"'{path}' is not a 'package.module:name' path")
    try:
        module = _import_module(module_name)
    except ImportError as error:
        raise ObjectPathError(f"cannot import module '{module_name}': {error}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ObjectPathError(f"module '{module_name}' has no '{attribute}'") from None


def _import_module(name: str) -> Any:
    """Import ``name``, also from the current folder (as ``python -m`` would) when it is not installed."""
    try:
        return import_module(name)
    except ModuleNotFoundError as error:
        here = str(Path.cwd())
        if error.name != name.split(".")[0] or here in sys.path:
            raise
        sys.path.append(here)
        return import_module(name)
