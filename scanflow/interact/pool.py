"""What a query strategy looks at (`Pool`) and what it answers (`Selection`).

A strategy never sees the model itself: it gets the model's probabilities on
the pool, so the same strategy ranks samples from a live model, a prediction
log (probabilities stored with each prediction) or a benchmark loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Pool:
    """Unlabelled samples and what is known about them.

    ``ids`` are the samples' references in their source (row ids or content
    hashes); ``labelled`` holds the features already labelled (or the reference
    data) that new picks should differ from; ``classes`` names the columns of
    ``probabilities``.
    """

    features: np.ndarray
    ids: Sequence[Any] | None = None
    probabilities: np.ndarray | None = None
    labelled: np.ndarray | None = None
    classes: Sequence[Any] | None = None

    def __post_init__(self) -> None:
        features = np.asarray(self.features)
        if features.ndim == 1:
            features = features.reshape(-1, 1)
        if features.ndim > 2:  # images: one flat row each
            features = features.reshape(len(features), -1)
        object.__setattr__(self, "features", features)
        n = len(features)
        if self.ids is not None and len(self.ids) != n:
            raise ValueError(f"the pool has {n} samples but {len(self.ids)} ids; give one id per sample")
        if self.probabilities is not None:
            probabilities = np.asarray(self.probabilities, dtype=float)
            if probabilities.ndim != 2 or len(probabilities) != n:
                raise ValueError(
                    f"probabilities must be an array of shape (samples, classes) = ({n}, k),"
                    f" got shape {probabilities.shape}"
                )
            object.__setattr__(self, "probabilities", probabilities)
        if self.labelled is not None:
            labelled = np.asarray(self.labelled).reshape(len(self.labelled), -1)
            if len(labelled) and labelled.shape[1] != features.shape[1]:
                raise ValueError(
                    f"labelled samples have {labelled.shape[1]} features, the pool {features.shape[1]}:"
                    " both must come from the same feature space"
                )
            object.__setattr__(self, "labelled", labelled)

    def __len__(self) -> int:
        return len(self.features)

    def id_of(self, position: int) -> Any:
        return position if self.ids is None else self.ids[position]

    def class_name(self, column: int) -> str:
        return str(column if self.classes is None else self.classes[column])


@dataclass(frozen=True)
class Selection:
    """The samples a strategy picked, most informative first, with why."""

    strategy: str
    positions: np.ndarray  # indices into the pool
    ids: list[Any]
    scores: np.ndarray
    reasons: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positions)

    def __iter__(self):  # noqa: ANN204 - (id, score, reason) rows
        return iter(zip(self.ids, self.scores.tolist(), self.reasons, strict=True))
