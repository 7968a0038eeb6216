"""The one interface every checker implements, and the result every check returns.

A checker learns what normal data looks like (``fit``), then judges a batch
(``check``). Results carry the verdict, the evidence (score, p-value or
threshold) and the ranked features that changed, so a person can act on them.
Checkers save to a folder of JSON plus ``.npz`` arrays: never pickle, because
saved checkers travel between machines and are loaded back from users.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

CONFIG_FILE = "checker.json"
ARRAYS_FILE = "arrays.npz"
FORMAT_VERSION = 1


class CheckerError(ValueError):
    """Input a checker cannot judge: the message says what is wrong and how to fix it."""


class NotFittedError(CheckerError):
    pass


def require_at_least(minimum: float, **options: float | None) -> None:
    """Refuse option values below ``minimum`` by name (``None`` means unset and passes)."""
    for name, value in options.items():
        if value is not None and value < minimum:
            raise CheckerError(f"option {name!r} must be at least {minimum:g}, got {value!r}")


@dataclass
class FeatureDrift:
    """How much one feature (a column, a class, a latent dimension) changed."""

    feature: str
    statistic: float
    p_value: float | None
    drifted: bool
    detail: str = ""


@dataclass
class CheckResult:
    """The judgement of one batch: verdict, evidence, and what changed (most changed first)."""

    checker: str
    verdict: Literal["drift", "ok"]
    score: float
    p_value: float | None
    threshold: float | None
    n: int
    features: list[FeatureDrift] = field(default_factory=list)
    explanation: str = ""

    @property
    def drifted(self) -> bool:
        return self.verdict == "drift"

    @property
    def drifted_features(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN and infinities become ``None``)."""
        return _json_ready(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        features = [FeatureDrift(**f) for f in data.get("features", [])]
        return cls(**{**data, "features": features})


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return _json_ready(value.item())
    return value


class Checker(ABC):
    """Base class of every checker, built in or plugged in.

    Subclasses set ``name``, implement ``fit`` and ``check``, and describe their
    learned state with ``get_state``/``set_state`` so ``save``/``load`` work
    without pickle. Constructor keyword arguments are saved as the config, so a
    subclass that stores them in ``self.config`` round-trips for free.

    ``check`` must not change the fitted state: the prediction service calls it
    from a background thread while other code may read the checker.
    """

    name: ClassVar[str]

    def __init__(self, **config: Any) -> None:
        self.config: dict[str, Any] = config
        self._fitted = False

    # ----------------------------------------------------------- interface
    @abstractmethod
    def fit(self, reference: Any) -> Self:
        """Learn what normal data looks like from ``reference``."""

    @abstractmethod
    def check(self, batch: Any) -> CheckResult:
        """Judge ``batch`` against the reference."""

    def get_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The fitted state as (JSON-ready values, numpy arrays)."""
        return {}, {}

    def set_state(self, values: dict[str, Any], arrays: dict[str, Any]) -> None:  # noqa: B027
        """Restore what ``get_state`` returned (nothing to restore by default)."""

    # ------------------------------------------------------------ helpers
    @property
    def fitted(self) -> bool:
        return self._fitted

    def _mark_fitted(self) -> None:
        self._fitted = True

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise NotFittedError(
                f"checker '{self.name}' is not fitted: call .fit(reference) or load a saved checker first"
            )

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({options})"

    # -------------------------------------------------------- persistence
    def save(self, path: str | Path) -> None:
        """Write the checker to folder ``path``: ``checker.json`` and ``arrays.npz``."""
        import numpy as np

        self._require_fitted()
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise CheckerError(f"'{folder}' is a file: a checker is saved as a folder, give a folder's path")
        folder.mkdir(parents=True, exist_ok=True)
        values, arrays = self.get_state()
        document = {
            "format": FORMAT_VERSION,
            "checker": self.name,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "config": _json_ready(self.config),
            "state": _json_ready(values),
        }
        (folder / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")
        np.savez_compressed(folder / ARRAYS_FILE, **{k: np.asarray(v) for k, v in arrays.items()})

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a checker saved with ``save`` (arrays load with pickle disabled)."""
        from scanflow.npz import NotNumpyFile, open_npz

        folder = Path(path)
        document = read_document(folder)
        if document.get("checker") != cls.name:
            raise CheckerError(
                f"{folder} holds a '{document.get('checker')}' checker, not '{cls.name}';"
                " use scanflow.check.load_checker to load any kind"
            )
        checker = cls(**document.get("config", {}))
        arrays: dict[str, Any] = {}
        if (folder / ARRAYS_FILE).is_file():
            try:
                stored = open_npz(folder / ARRAYS_FILE)
            except NotNumpyFile:
                raise CheckerError(
                    f"{folder / ARRAYS_FILE} is damaged (not a NumPy archive): fit and save the checker again"
                ) from None
            with stored:
                arrays = {k: stored[k] for k in stored.files}
        checker.set_state(document.get("state", {}), arrays)
        checker._mark_fitted()
        return checker


def read_document(folder: Path) -> dict[str, Any]:
    """The ``checker.json`` of a saved checker folder, with a clear error when absent."""
    config = folder / CONFIG_FILE
    if not config.is_file():
        raise CheckerError(f"{folder} is not a saved checker: it has no {CONFIG_FILE}")
    try:
        document = json.loads(config.read_text())
    except json.JSONDecodeError as error:
        raise CheckerError(f"{config} is not valid JSON: {error}") from None
    if document.get("format", 0) > FORMAT_VERSION:
        raise CheckerError(f"{config} was saved by a newer Scanflow; upgrade scanflow to load it")
    return document
