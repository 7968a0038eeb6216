"""`QueryStrategy`: ranks a pool of unlabelled samples and picks a batch to label."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from scanflow.interact.pool import Pool, Selection


class StrategyInputError(ValueError):
    """A strategy was given a pool without what it needs (probabilities, reference data...)."""


class QueryStrategy(ABC):
    """Picks the samples a model would learn most from.

    Subclasses set ``name`` (how users ask for them) and ``needs`` (the
    ``Pool`` fields they read beyond ``features``), and implement ``_select``.
    """

    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()

    def select(self, pool: Pool, batch_size: int, *, seed: int | None = None) -> Selection:
        """The ``batch_size`` most informative samples of ``pool``, best first."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        for field in self.needs:
            if getattr(pool, field) is None:
                raise StrategyInputError(
                    f"strategy '{self.name}' needs the pool's {field}"
                    f"{_HOW_TO_GIVE.get(field, '')}; give them or pick another strategy"
                )
        if len(pool) == 0:
            return Selection(self.name, np.empty(0, dtype=int), [], np.empty(0), [])
        positions, scores, reasons = self._select(
            pool, min(batch_size, len(pool)), np.random.default_rng(seed)
        )
        positions = np.asarray(positions, dtype=int)
        return Selection(
            self.name, positions, [pool.id_of(int(p)) for p in positions], np.asarray(scores, float), reasons
        )

    @abstractmethod
    def _select(
        self, pool: Pool, batch_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Positions in the pool, their scores and a short reason for each."""

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({options})"


class ScoringStrategy(QueryStrategy):
    """A strategy that scores each sample on its own; the batch is the top scores."""

    @abstractmethod
    def scores(self, pool: Pool) -> np.ndarray:
        """Informativeness of every sample of the pool (higher is more informative)."""

    @abstractmethod
    def reason(self, pool: Pool, position: int, score: float) -> str:
        """Why one sample was picked, in words a labeller understands."""

    def _select(
        self, pool: Pool, batch_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        scores = self.scores(pool)
        positions = top_k(scores, batch_size)
        return positions, scores[positions], [self.reason(pool, int(p), float(scores[p])) for p in positions]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, highest first, in O(n) (ties: lower position first)."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    candidates = np.argpartition(-scores, k - 1)[:k]
    return candidates[np.lexsort((candidates, -scores[candidates]))]


_HOW_TO_GIVE = {
    "probabilities": " (the model's predict_proba on the pool, or the probabilities in the prediction log)",
    "labelled": " (the labelled or reference samples, to stay away from)",
}
