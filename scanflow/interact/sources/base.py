"""Where samples to label come from: a `SampleSource` loads them as `Samples`.

Sources are reopened from a small JSON spec kept with each label queue
(``{"kind": "dataset", "uri": ...}``), so a queue finds its samples again
after a restart, in another process, or on another machine.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np


def content_hash(row: np.ndarray) -> str:
    """A short, stable fingerprint of one sample's values (float64 bytes, SHA-256)."""
    data = np.ascontiguousarray(np.asarray(row, dtype=np.float64).ravel())
    return hashlib.sha256(data.tobytes()).hexdigest()[:32]


class SampleGone(LookupError):
    """A queued sample's reference no longer matches a row of its source (the data was replaced)."""


@dataclass(frozen=True)
class Samples:
    """Samples as arrays: one row per sample, with their references and what else the source knows.

    ``ids`` are the samples' references (a row id or, without one, the content
    hash); ``targets`` their known labels (a dataset with labels);
    ``probabilities``/``predictions`` what a model said (a prediction log).
    """

    ids: list[str]
    features: np.ndarray
    targets: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    classes: list[Any] | None = None  # columns of probabilities
    predictions: list[Any] | None = None
    image_shape: tuple[int, ...] | None = None
    feature_names: list[str] | None = None

    def __post_init__(self) -> None:
        features = np.asarray(self.features, dtype=float)
        if features.ndim == 1:
            features = features.reshape(-1, 1)
        elif features.ndim > 2:
            if self.image_shape is None:
                object.__setattr__(self, "image_shape", tuple(features.shape[1:]))
            features = features.reshape(len(features), -1)
        object.__setattr__(self, "features", features)
        if len(self.ids) != len(features):
            raise ValueError(f"{len(features)} samples but {len(self.ids)} ids")
        if len(set(self.ids)) != len(self.ids):
            seen: set[str] = set()
            twice = next(i for i in self.ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise ValueError(
                f"sample id '{twice}' appears more than once; ids must be unique"
                " (identical rows without an id column have the same content hash: add an id column)"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def hashes(self) -> list[str]:
        return [content_hash(row) for row in self.features]

    def positions(self, refs: Iterable[str]) -> np.ndarray:
        """Row positions of ``refs``; the error names a reference the source does not hold."""
        index = {ref: i for i, ref in enumerate(self.ids)}
        out = []
        for ref in refs:
            if ref not in index:
                raise SampleGone(
                    f"sample '{ref}' is not in the queue's data any more (was the file replaced?):"
                    " put the data the queue was made from back, or queue the new data in a new queue"
                )
            out.append(index[ref])
        return np.asarray(out, dtype=int)

    def take(self, positions: Sequence[int] | np.ndarray) -> Samples:
        """The samples at ``positions``, with everything known about them."""
        positions = np.asarray(positions, dtype=int)

        def pick(values: Any) -> Any:
            if values is None:
                return None
            if isinstance(values, np.ndarray):
                return values[positions]
            return [values[i] for i in positions]

        return replace(
            self,
            ids=[self.ids[i] for i in positions],
            features=self.features[positions],
            targets=pick(self.targets),
            probabilities=pick(self.probabilities),
            predictions=pick(self.predictions),
        )

    def shaped_as(self, image_shape: Sequence[int] | None) -> Samples:
        """These samples shown as images of ``image_shape`` (flat arrays of pixels, e.g. 8x8 digits)."""
        if not image_shape:
            return self
        shape = tuple(int(side) for side in image_shape)
        if any(side < 1 for side in shape) or int(np.prod(shape)) != self.features.shape[1]:
            raise ValueError(
                f"image shape {'x'.join(map(str, shape))} holds {int(np.prod(shape))} values but each sample"
                f" has {self.features.shape[1]}: give height x width (x channels) that multiply to"
                f" {self.features.shape[1]}"
            )
        return replace(self, image_shape=shape)

    def without(self, refs: Iterable[str]) -> Samples:
        """These samples less those in ``refs`` (e.g. already queued)."""
        drop = set(refs)
        return self.take([i for i, ref in enumerate(self.ids) if ref not in drop])


class SampleSource(ABC):
    """Loads samples, and says how to reopen itself (``spec``)."""

    kind: ClassVar[str]

    @abstractmethod
    def load(self) -> Samples:
        """Every sample the source holds now."""

    def load_nonempty(self) -> Samples:
        """Every sample, refusing a source with none (a log the model has not written to yet)."""
        samples = self.load()
        if len(samples) == 0:
            raise ValueError(f"{self.describe()} holds no samples yet")
        return samples

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """JSON that ``open_source`` turns back into this source."""

    def hold(self, refs: list[str], reason: str) -> None:  # noqa: B027 - most sources delete nothing
        """Keep ``refs`` from any deleting the source does on its own (a prediction log's retention)."""

    def describe(self) -> str:
        return f"{self.kind} source"
