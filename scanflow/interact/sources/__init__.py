"""Sample sources for label queues: dataset files/artifacts and the prediction log.

``open_source`` turns a queue's stored spec (or what a user typed) back into a
source. Other kinds plug in with ``register_source``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from scanflow.interact.sources.base import Samples, SampleSource, content_hash
from scanflow.interact.sources.dataset import (
    MLFLOW_SCHEMES,
    DatasetError,
    DatasetSource,
    read_dataset,
    write_dataset,
)
from scanflow.interact.sources.prediction_log import (
    PREDICTION_LOG,
    PredictionLogError,
    PredictionLogSchema,
    PredictionLogSource,
    prediction_log_table,
)

_DATABASE_SCHEMES = ("sqlite:", "postgresql:", "postgresql+", "postgres:")
_KINDS: dict[str, Callable[..., SampleSource]] = {}


def is_prediction_log(source: Any) -> bool:
    """Whether ``source`` as a user typed it is a database URL (a prediction log), not a dataset."""
    return isinstance(source, str) and source.startswith(_DATABASE_SCHEMES)


def open_named_source(
    source: Any, *, tracking_uri: str | None = None, model_name: str | None = None
) -> SampleSource:
    """A source as a user names it, given what its kind needs to be read.

    An MLflow artifact URI (``runs:/...``) is downloaded through the project's
    tracking server; a prediction log's URL keeps the predictions of
    ``model_name`` only, not those of the models logged beside it.
    """
    if isinstance(source, str) and source.startswith(MLFLOW_SCHEMES):
        return open_source(source, tracking_uri=tracking_uri)
    if is_prediction_log(source) and model_name is not None:
        return open_source(source, model_name=model_name)
    return open_source(source)


def register_source(kind: str, factory: Callable[..., SampleSource]) -> None:
    """Make ``{"kind": kind, ...}`` specs open with ``factory(**rest)``."""
    _KINDS[kind] = factory


def _prediction_log(schema: dict[str, str] | None = None, **options: Any) -> PredictionLogSource:
    return PredictionLogSource(schema=PredictionLogSchema(**schema) if schema else PREDICTION_LOG, **options)


register_source(DatasetSource.kind, DatasetSource)
register_source(PredictionLogSource.kind, _prediction_log)


def open_source(spec: dict[str, Any] | str | Path | SampleSource, **options: Any) -> SampleSource:
    """A source from a spec dict, a dataset path/URI, or a database URL (a prediction log)."""
    if isinstance(spec, SampleSource):
        return spec
    if isinstance(spec, str | Path):
        text = str(spec)
        kind = PredictionLogSource.kind if is_prediction_log(text) else DatasetSource.kind
        spec = {"kind": kind, ("url" if kind == PredictionLogSource.kind else "uri"): text, **options}
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"unknown sample source kind {kind!r}; known kinds: {', '.join(sorted(_KINDS))}")
    return _KINDS[kind](**spec)


__all__ = [
    "PREDICTION_LOG",
    "DatasetError",
    "DatasetSource",
    "PredictionLogError",
    "PredictionLogSchema",
    "PredictionLogSource",
    "SampleSource",
    "Samples",
    "content_hash",
    "is_prediction_log",
    "open_named_source",
    "open_source",
    "prediction_log_table",
    "read_dataset",
    "register_source",
    "write_dataset",
]
