"""Weighted k-means, small and fast: the clustering the hybrid and typical picks share."""

from __future__ import annotations

import numpy as np


def weighted_kmeans(
    points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """k-means (k-means++ start, Lloyd steps) with weighted samples; returns assignment and centres.

    Written out because it runs on a few hundred candidates per batch, where
    a general-purpose implementation's set-up costs more than the work.
    """
    points = np.asarray(points, dtype=float)
    to = _DistancesTo(points)
    centres = [points[rng.choice(len(points), p=weights / weights.sum())]]
    distance = to(np.asarray(centres))[:, 0]
    for _ in range(1, k):
        mass = weights * distance
        total = mass.sum()
        choice = rng.choice(len(points), p=mass / total) if total > 0 else int(rng.integers(len(points)))
        centres.append(points[choice])
        distance = np.minimum(distance, to(points[choice : choice + 1])[:, 0])
    centre_array = np.asarray(centres)
    assignment = np.full(len(points), -1)
    rows = np.arange(len(points))
    for _ in range(iterations):
        new = to(centre_array).argmin(axis=1)
        if np.array_equal(new, assignment):
            break
        assignment = new
        # Every centre at once: a (clusters x points) matrix of weights, one product.
        membership = np.zeros((k, len(points)))
        membership[assignment, rows] = weights
        mass = membership.sum(axis=1)
        filled = mass > 0
        centre_array[filled] = (membership @ points)[filled] / mass[filled, None]
    return assignment, centre_array


class _DistancesTo:
    """``squared_distances(points, centres)`` with the points' single-precision copy and norms kept.

    k-means++ asks for the distances to one new centre at a time, hundreds of
    times; converting and summing the points each time would cost more than
    the product itself.
    """

    def __init__(self, points: np.ndarray):
        self.points = np.asarray(points, dtype=np.float32)
        self.norms = np.einsum("ij,ij->i", self.points, self.points)

    def __call__(self, centres: np.ndarray) -> np.ndarray:
        centres = np.asarray(centres, dtype=np.float32)
        distances = (
            self.norms[:, None]
            - 2.0 * self.points @ centres.T
            + np.einsum("ij,ij->i", centres, centres)[None, :]
        )
        return np.maximum(distances, 0.0)
