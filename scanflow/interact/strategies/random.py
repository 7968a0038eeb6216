"""Random sampling: the baseline every other strategy has to beat."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from scanflow.interact.pool import Pool
from scanflow.interact.strategies.base import QueryStrategy


class RandomSampling(QueryStrategy):
    """Picks samples uniformly at random (seeded through ``select(seed=...)``)."""

    name: ClassVar[str] = "random"

    def _select(
        self, pool: Pool, batch_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        picks = rng.choice(len(pool), size=batch_size, replace=False)
        return picks, np.zeros(batch_size), ["picked at random"] * batch_size
