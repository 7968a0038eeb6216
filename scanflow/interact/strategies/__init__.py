"""Query strategies, found by name: built-in ones and plugins.

A plugin is a ``QueryStrategy`` subclass, registered in code with
``register_strategy``, by a package through the ``scanflow.strategies``
entry-point group (``name = "package.module:Class"``), or named by its class
path (``--strategy package.module:Class``), like checkers.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from scanflow.interact.strategies.base import QueryStrategy, ScoringStrategy, StrategyInputError
from scanflow.interact.strategies.diversity import KCenterGreedy
from scanflow.interact.strategies.hybrid import MarginClusters
from scanflow.interact.strategies.novelty import Novelty
from scanflow.interact.strategies.random import RandomSampling
from scanflow.interact.strategies.uncertainty import Entropy, LeastConfidence, Margin
from scanflow.objects import import_object, is_object_path

ENTRY_POINT_GROUP = "scanflow.strategies"
DEFAULT_STRATEGY = MarginClusters.name

_BUILT_IN: dict[str, type[QueryStrategy]] = {
    cls.name: cls
    for cls in (MarginClusters, Margin, LeastConfidence, Entropy, Novelty, KCenterGreedy, RandomSampling)
}
_REGISTERED: dict[str, type[QueryStrategy]] = {}


def register_strategy(cls: type[QueryStrategy]) -> type[QueryStrategy]:
    """Make a strategy class available by its ``name`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, QueryStrategy)):
        raise TypeError(f"{cls!r} is not a QueryStrategy subclass")
    _REGISTERED[cls.name] = cls
    return cls


def available_strategies() -> dict[str, type[QueryStrategy]]:
    """Every strategy by name: built-in, registered, then entry-point plugins."""
    found = {**_BUILT_IN, **_REGISTERED}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in found:
            found[entry.name] = entry.load()
    return found


def make_strategy(name: str | QueryStrategy, **options: Any) -> QueryStrategy:
    """A strategy from its name (``"margin"``) or class path (``"pkg.module:Class"``), or itself."""
    if isinstance(name, QueryStrategy):
        return name
    if is_object_path(name):
        found = import_object(name)
        if not (isinstance(found, type) and issubclass(found, QueryStrategy)):
            raise ValueError(
                f"'{name}' is not a QueryStrategy subclass: subclass scanflow.interact.QueryStrategy"
            )
        return found(**options)
    strategies = available_strategies()
    if name not in strategies:
        from scanflow.spec.errors import did_you_mean

        hint = did_you_mean(name, strategies)
        raise ValueError(
            f"unknown query strategy '{name}'{f' ({hint})' if hint else ''};"
            f" choose one of: {', '.join(sorted(strategies))}"
        )
    return strategies[name](**options)


__all__ = [
    "DEFAULT_STRATEGY",
    "Entropy",
    "KCenterGreedy",
    "LeastConfidence",
    "Margin",
    "MarginClusters",
    "Novelty",
    "QueryStrategy",
    "RandomSampling",
    "ScoringStrategy",
    "StrategyInputError",
    "available_strategies",
    "make_strategy",
    "register_strategy",
]
