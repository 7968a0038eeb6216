"""Checker options checked against the checker's constructor, before it runs.

Options arrive as text (``scanflow check -o alpha=0.01``, a workflow file), so a
typo or a word where a number belongs would otherwise surface as Python's
complaint from deep inside the constructor.
"""

from __future__ import annotations

import inspect
import numbers
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from scanflow.check.base import Checker, CheckerError


def check_options(cls: type[Checker], name: str, options: dict[str, Any]) -> None:
    """Refuse options ``cls`` does not take, or values of the wrong kind, naming what it takes."""
    accepted = _accepted_options(cls)
    if accepted is None:  # takes anything: a plugin passing **options on to Checker
        return
    unknown = [key for key in options if key not in accepted]
    if unknown:
        listing = ", ".join(accepted) or "none"
        raise CheckerError(f"checker {name!r} has no option {unknown[0]!r}; its options are: {listing}")
    for key, value in options.items():
        wanted = _kind_problem(accepted[key], value)
        if wanted:
            raise CheckerError(f"option {key!r} of checker {name!r} takes {wanted}, got {value!r}")


def _accepted_options(cls: type) -> dict[str, Any] | None:
    """Keyword parameters of ``cls``'s constructors (following ``**options`` to the parent's)."""
    accepted: dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is Checker or klass is object:
            return None
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # an annotation that does not resolve: check names only
            hints = {}
        passes_on = False
        for parameter in list(inspect.signature(init).parameters.values())[1:]:
            if parameter.kind is parameter.VAR_KEYWORD:
                passes_on = True
            elif parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                accepted.setdefault(parameter.name, hints.get(parameter.name, Any))
        if not passes_on:
            return accepted
    return None


def _kind_problem(annotation: Any, value: Any) -> str | None:
    """What kind of value ``annotation`` asks for, when ``value`` is not one; None when it fits."""
    origin = get_origin(annotation)
    if origin is Literal:
        choices = get_args(annotation)
        return None if value in choices else "one of " + ", ".join(repr(c) for c in choices)
    if origin in (Union, types.UnionType):
        problems = [_kind_problem(member, value) for member in get_args(annotation)]
        return None if None in problems else " or ".join(p for p in problems if p)
    if annotation is type(None):
        return None if value is None else "nothing (null)"
    if annotation is bool:
        return None if isinstance(value, bool) else "true or false"
    if annotation is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
    if annotation is float:
        return None if isinstance(value, numbers.Real) and not isinstance(value, bool) else "a number"
    if annotation is str:
        return None if isinstance(value, str) else "text"
    return None  # any other type: the constructor judges
