"""Champion against challenger on held-out data, and an explicit promotion decision.

Promotion is moving a registry alias (``champion``) to the challenger's
version, so every server that follows the alias switches to it. The decision
is made in one place, with its numbers and its reason, and is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from scanflow.extras import require
from scanflow.interact.models import LoadedModel

Metric = Callable[[np.ndarray, np.ndarray], float]
METRICS = ("accuracy", "balanced_accuracy", "f1_macro")


def metric_function(name: str | Metric) -> tuple[str, Metric]:
    """A metric by name (higher is better), or a ``metric(y_true, y_pred)`` function."""
    if callable(name):
        return getattr(name, "__name__", "metric"), name
    metrics = require("sklearn.metrics", "interact", "evaluating models")
    known: dict[str, Metric] = {
        "accuracy": metrics.accuracy_score,
        "balanced_accuracy": metrics.balanced_accuracy_score,
        "f1_macro": lambda y, p: metrics.f1_score(y, p, average="macro"),
    }
    if name not in known:
        raise ValueError(f"unknown metric '{name}'; use one of {', '.join(METRICS)} or pass a function")
    return name, known[name]


@dataclass(frozen=True)
class Comparison:
    """Both models' scores on the same held-out samples."""

    model_name: str
    alias: str
    metric: str
    champion_version: str
    challenger_version: str
    champion_score: float
    challenger_score: float
    holdout_size: int

    @property
    def gain(self) -> float:
        return self.challenger_score - self.champion_score

    def summary(self) -> str:
        return (
            f"{self.metric} on {self.holdout_size} held-out samples: champion v{self.champion_version}"
            f" {self.champion_score:.4f}, challenger v{self.challenger_version} {self.challenger_score:.4f}"
            f" ({self.gain:+.4f})"
        )


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str  # the whole story, scores included: kept in MLflow and the registry
    brief: str = ""  # what to add to a line that already shows the scores


def compare(
    champion: LoadedModel,
    challenger: LoadedModel,
    features: np.ndarray,
    labels: np.ndarray,
    alias: str,
    metric: str | Metric = "accuracy",
) -> Comparison:
    name, score = metric_function(metric)
    labels = np.asarray(labels)
    return Comparison(
        model_name=champion.name,
        alias=alias,
        metric=name,
        champion_version=champion.version,
        challenger_version=challenger.version,
        champion_score=float(score(labels, _as_labels(champion.predict(features), labels))),
        challenger_score=float(score(labels, _as_labels(challenger.predict(features), labels))),
        holdout_size=len(labels),
    )


def _as_labels(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Predictions in the labels' type (a pyfunc may answer floats for integer classes)."""
    predictions = np.asarray(predictions).ravel()
    try:
        return predictions.astype(labels.dtype)
    except (TypeError, ValueError):
        return predictions


def decide(
    comparison: Comparison, *, min_gain: float = 0.0, approve: Callable[[Comparison], bool] | None = None
) -> Decision:
    """Promote only a challenger that beats the champion by more than ``min_gain`` (and is approved)."""
    if comparison.gain <= min_gain:
        return Decision(
            False,
            f"challenger is not better: {comparison.metric} {comparison.challenger_score:.4f}"
            f" vs {comparison.champion_score:.4f} (needs a gain above {min_gain:g})",
            f"needs a gain above {min_gain:g}",
        )
    if approve is not None and not approve(comparison):
        return Decision(
            False,
            f"a person declined the promotion ({comparison.gain:+.4f} {comparison.metric})",
            "a person declined",
        )
    how = "approved by a person" if approve is not None else "automatic"
    return Decision(
        True,
        f"challenger is better: {comparison.metric} {comparison.challenger_score:.4f}"
        f" vs {comparison.champion_score:.4f} ({comparison.gain:+.4f}); {how}",
        how,
    )


def record(client: Any, comparison: Comparison, decision: Decision) -> None:
    """Tag the challenger version with the decision, so a refused version says why in the registry."""
    name, version = comparison.model_name, comparison.challenger_version
    client.set_model_version_tag(
        name, version, "scanflow.decision", "promoted" if decision.promote else "refused"
    )
    client.set_model_version_tag(name, version, "scanflow.reason", decision.reason)


def promote(client: Any, comparison: Comparison) -> None:
    """Move the alias to the challenger; tag both versions so the history reads in the registry."""
    name = comparison.model_name
    client.set_registered_model_alias(name, comparison.alias, comparison.challenger_version)
    client.set_model_version_tag(
        name, comparison.champion_version, "scanflow.replaced_by", comparison.challenger_version
    )
    client.set_model_version_tag(
        name, comparison.challenger_version, "scanflow.replaced", comparison.champion_version
    )
