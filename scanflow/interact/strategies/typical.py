"""Typical samples of the regions no label covers yet (TypiClust, Hacohen et al., 2022).

When the model's probabilities say little (a handful of labels) or nothing
new (it is sure of almost the whole pool), uncertainty cannot choose. Then
the pool is clustered into as many clusters as labels after this batch; the
largest clusters without a labelled sample are the biggest blind spots, and
the densest sample of each (smallest mean distance to its neighbours) is a
typical member, not an outlier.
"""

from __future__ import annotations

import numpy as np

from scanflow.interact.strategies.diversity import squared_distances
from scanflow.interact.strategies.kmeans import weighted_kmeans

SAMPLE = 2000  # pool samples clustered at most: keeps a 100,000-sample pool cheap
NEIGHBOURS = 20  # typicality: mean distance to this many nearest members of the cluster


def typical_uncovered(
    features: np.ndarray, labelled: np.ndarray | None, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Positions of up to ``count`` typical samples of the largest clusters without labels, largest first."""
    positions = np.arange(len(features))
    if len(features) > SAMPLE:
        positions = np.sort(rng.choice(len(features), SAMPLE, replace=False))
    points = np.asarray(features[positions], dtype=float)
    known = 0 if labelled is None else len(labelled)
    clusters = min(known + count, len(points))
    assignment, centres = weighted_kmeans(points, np.ones(len(points)), clusters, rng)
    covered = set() if not known else set(squared_distances(labelled, centres).argmin(axis=1).tolist())
    sizes = np.bincount(assignment, minlength=clusters)
    open_clusters = [c for c in np.argsort(-sizes, kind="stable") if sizes[c] and c not in covered]
    picks = [positions[_most_typical(points, np.flatnonzero(assignment == c))] for c in open_clusters[:count]]
    return np.asarray(picks, dtype=int)


def _most_typical(points: np.ndarray, members: np.ndarray) -> int:
    """The member with the smallest mean distance to its nearest fellow members."""
    if len(members) <= 2:
        return int(members[0])
    neighbours = min(NEIGHBOURS, len(members) - 1)
    distances = squared_distances(points[members], points[members])
    nearest = np.sqrt(np.partition(distances, neighbours, axis=1)[:, 1 : neighbours + 1])
    return int(members[np.argmin(nearest.mean(axis=1))])
