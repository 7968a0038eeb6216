"""Loading the checkers named by ``--checker``.

A value is one of:

- ``path/to/file.py:name`` or ``path/to/file.py`` (then the object ``checker``):
  a checker object, a class or a factory function in a Python file;
- ``package.module:name``: the same, importable;
- anything ``scanflow.check.load_checker`` understands (a saved checker folder,
  a registered checker name), when that module is installed.

A class or factory is called without arguments. The result must have
``check(batch)``.

A fitted ``scanflow.check.Checker`` is watched through its online mode: the
service judges a window every ``window`` rows, so each window is tested at the
level that gives one false alarm per ``ert`` rows on average, not at the
checker's single-test alpha (which would alarm on 5% of healthy windows).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from scanflow.objects import ObjectPathError, import_object
from scanflow.serve.errors import ServeSetupError
from scanflow.serve.live_check import LiveChecker

DEFAULT_ATTRIBUTE = "checker"


DEFAULT_ERT = 10_000


def load_checkers(values: list[str], window: int = 200, ert: int = DEFAULT_ERT) -> dict[str, LiveChecker]:
    """Checkers by name; names repeat with a suffix (``drift``, ``drift-2``)."""
    checkers: dict[str, LiveChecker] = {}
    for value in values:
        checker = calibrated(load_checker(value), window, ert)
        base = str(getattr(checker, "name", "") or type(checker).__name__)
        name, number = base, 1
        while name in checkers:
            number += 1
            name = f"{base}-{number}"
        checkers[name] = checker
    return checkers


def load_checker(value: str) -> LiveChecker:
    target, _, attribute = value.partition(":") if not _is_windows_drive(value) else (value, "", "")
    if target.endswith(".py"):
        found = _from_file(Path(target), attribute or DEFAULT_ATTRIBUTE, value)
    else:
        found = _from_check_package(value)
        if found is None:
            found = _from_module(target, attribute, value)
    checker = _instantiate(found, value)
    if not isinstance(checker, LiveChecker):
        raise ServeSetupError(f"--checker {value}: {type(checker).__name__} has no check(batch) method")
    return checker


class _CalibratedWindows:
    """A fitted scanflow checker judging the service's windows at the online level."""

    def __init__(self, online: Any):
        self.online = online
        self.name = online.checker.name

    def check(self, batch: Any) -> Any:
        return self.online.evaluate(batch)


def calibrated(checker: Any, window: int, ert: int) -> Any:
    """Wrap a fitted ``scanflow.check.Checker`` for repeated testing; leave other checkers alone."""
    try:
        from scanflow.check import Checker, OnlineChecker
    except ImportError:
        return checker
    if not isinstance(checker, Checker) or not checker.fitted:
        return checker
    return _CalibratedWindows(OnlineChecker(checker, window=window, stride=window, ert=max(ert, window)))


def _is_windows_drive(value: str) -> bool:
    return len(value) > 1 and value[1] == ":" and value[0].isalpha()


def _from_check_package(value: str) -> Any | None:
    """The project's checker loader, when installed; None to fall back to the plain import."""
    try:
        from scanflow.check import load_checker as load_registered  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return load_registered(value)
    except Exception as error:
        if ":" in value:
            return None  # maybe a plain `module:factory` the loader does not know
        raise ServeSetupError(f"--checker {value}: {error}") from None


def _from_file(path: Path, attribute: str, value: str) -> Any:
    if not path.is_file():
        raise ServeSetupError(f"--checker {value}: no file {path}")
    name = f"scanflow_checker_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise ServeSetupError(
            f"--checker {value}: importing {path} failed: {type(error).__name__}: {error}"
        ) from None
    return _attribute(module, attribute, value, str(path))


def _from_module(module_name: str, attribute: str, value: str) -> Any:
    if not attribute:
        raise ServeSetupError(
            f"--checker {value}: give a Python file (checks.py:factory), a module and a name"
            " (package.module:factory), or a saved checker (needs scanflow.check)"
        )
    try:
        return import_object(f"{module_name}:{attribute}")
    except ObjectPathError as error:
        raise ServeSetupError(f"--checker {value}: {error}") from None


def _attribute(module: Any, attribute: str, value: str, where: str) -> Any:
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ServeSetupError(f"--checker {value}: {where} has no '{attribute}'") from None


def _instantiate(found: Any, value: str) -> Any:
    if isinstance(found, LiveChecker) and not isinstance(found, type):
        return found
    if callable(found):
        try:
            return found()
        except Exception as error:
            raise ServeSetupError(
                f"--checker {value}: creating the checker failed: {type(error).__name__}: {error}"
            ) from None
    return found
