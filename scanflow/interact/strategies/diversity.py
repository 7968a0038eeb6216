"""Diversity: a batch that covers the pool instead of ten copies of one sample.

k-center greedy (the core-set approach): repeatedly pick the sample farthest
from everything labelled or already picked, so the labelled set covers the
feature space with the smallest radius.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from scanflow.interact.pool import Pool
from scanflow.interact.strategies.base import QueryStrategy

_CHUNK = 4096


def squared_distances(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances, ``(len(points), len(centers))``, computed by matrix product."""
    points = np.asarray(points, dtype=np.float32)
    centers = np.asarray(centers, dtype=np.float32)
    distances = (
        np.einsum("ij,ij->i", points, points)[:, None]
        - 2.0 * points @ centers.T
        + np.einsum("ij,ij->i", centers, centers)[None, :]
    )
    return np.maximum(distances, 0.0)


def nearest_distance(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Distance from each point to its nearest center, in chunks to bound memory."""
    if len(centers) == 0:
        return np.full(len(points), np.inf)
    out = np.empty(len(points), dtype=np.float32)
    for start in range(0, len(points), _CHUNK):
        out[start : start + _CHUNK] = squared_distances(points[start : start + _CHUNK], centers).min(axis=1)
    return np.sqrt(out)


def k_center_greedy(
    points: np.ndarray, k: int, centers: np.ndarray | None = None, first: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``k`` points, each the farthest from ``centers`` and the points picked before it.

    Returns the positions and each pick's distance at the time it was picked.
    Without centers the walk starts at ``first`` (default: the point nearest the mean).
    """
    points = np.asarray(points, dtype=np.float32)
    if centers is not None and len(centers):
        distance = nearest_distance(points, centers)
    else:
        distance = np.full(len(points), np.inf, dtype=np.float32)
    picks: list[int] = []
    gaps: list[float] = []
    for _ in range(min(k, len(points))):
        if np.isinf(distance).all():
            pick = first if first is not None else int(np.argmin(((points - points.mean(0)) ** 2).sum(1)))
        else:
            pick = int(np.argmax(distance))
        picks.append(pick)
        gaps.append(float(distance[pick]))
        distance = np.minimum(distance, np.sqrt(squared_distances(points, points[pick : pick + 1])[:, 0]))
    return np.asarray(picks, dtype=int), np.asarray(gaps)


class KCenterGreedy(QueryStrategy):
    """Core-set sampling: each pick is the sample farthest from the labelled set and earlier picks."""

    name: ClassVar[str] = "diversity"

    def _select(
        self, pool: Pool, batch_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        picks, gaps = k_center_greedy(pool.features, batch_size, pool.labelled)
        reasons = [
            "first pick: the most central sample"
            if np.isinf(g)
            else f"far from everything labelled (distance {g:.2f})"
            for g in gaps
        ]
        return picks, np.where(np.isinf(gaps), 0.0, gaps), reasons
