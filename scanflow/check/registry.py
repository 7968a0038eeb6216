"""Finding checkers by name: built-ins, plugins from entry points, and dotted paths.

A plugin package declares its checkers in its ``pyproject.toml``::

    [project.entry-points."scanflow.checkers"]
    sanity = "my_package.checks:SanityChecker"

after which ``load_checker("sanity")`` and ``--detector sanity`` find it. A YAML
file or command line may also name any class as ``"my_package.checks:SanityChecker"``.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from scanflow.check.base import CONFIG_FILE, Checker, CheckerError, read_document
from scanflow.check.options import check_options
from scanflow.objects import ObjectPathError, import_object

ENTRY_POINT_GROUP = "scanflow.checkers"

BUILT_IN = {
    "ks": "scanflow.check.univariate:UnivariateChecker",
    "cvm": "scanflow.check.univariate:CramerVonMisesChecker",
    "mmd": "scanflow.check.mmd:MMDChecker",
    "label_shift": "scanflow.check.label_shift:LabelShiftChecker",
    "integrity": "scanflow.check.integrity:IntegrityChecker",
    "autoencoder": "scanflow.check.autoencoder:AutoencoderChecker",
}

_registered: dict[str, type[Checker]] = {}


def register(checker: type[Checker]) -> type[Checker]:
    """Register a checker class under its ``name`` (usable as a class decorator)."""
    _registered[checker.name] = checker
    return checker


def available() -> dict[str, str]:
    """Every checker name that can be loaded, with where it comes from."""
    names = dict(BUILT_IN)
    names.update({e.name: e.value for e in entry_points(group=ENTRY_POINT_GROUP)})
    names.update({n: f"{c.__module__}:{c.__qualname__}" for n, c in _registered.items()})
    return names


def checker_class(name: str) -> type[Checker]:
    """The class of a registered name or of a ``"package.module:Class"`` path."""
    if name in _registered:
        return _registered[name]
    if ":" in name:
        return _import_class(name, name)
    if name in BUILT_IN:
        return _import_class(BUILT_IN[name], name)
    for entry in entry_points(group=ENTRY_POINT_GROUP, name=name):
        return _as_checker_class(entry.load(), name)
    raise CheckerError(
        f"no checker named {name!r}: use one of {', '.join(sorted(available()))},"
        " a saved checker folder, or a class path like 'my_package.module:MyChecker'"
    )


def _import_class(path: str, name: str) -> type[Checker]:
    try:
        value = import_object(path)
    except ObjectPathError as error:
        raise CheckerError(f"cannot load checker {name!r}: {error}") from None
    return _as_checker_class(value, name)


def _as_checker_class(value: Any, name: str) -> type[Checker]:
    if not (isinstance(value, type) and issubclass(value, Checker)):
        raise CheckerError(f"{name!r} is not a Checker subclass: subclass scanflow.check.Checker")
    return value


def load_checker(path_or_name: str | Path, **options: Any) -> Checker:
    """A saved checker (a folder, fitted), or a new one by name or class path (``options`` configure it)."""
    path = Path(path_or_name)
    if path.is_dir() and ((path / CONFIG_FILE).is_file() or str(path_or_name) not in available()):
        document = read_document(path)
        if options:
            raise CheckerError(f"{path} is a saved checker; its options were fixed when it was fitted")
        cls = checker_class(document.get("class") or document["checker"])
        return cls.load(path)
    cls = checker_class(str(path_or_name))
    check_options(cls, str(path_or_name), options)
    try:
        return cls(**options)
    except TypeError as error:
        raise CheckerError(f"bad options for checker {str(path_or_name)!r}: {error}") from None
