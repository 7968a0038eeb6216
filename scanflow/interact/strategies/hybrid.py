"""Hybrid: uncertain samples, spread over the pool (margin within diverse clusters).

Uncertainty alone asks ten near-copies of the same confusing digit; diversity
alone asks about easy samples. This strategy takes the ``candidates`` x batch
samples with the smallest margin, clusters them into one cluster per label to
ask, and from each cluster asks the sample nearest its centre: the most
typical of a distinct kind of confusion, rather than an outlier. With few
labels it looks at a wider set of candidates, as the margins of a model
trained on a handful of samples say little. It is the default: cheap (linear
in the pool, k-means on a few hundred samples).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from scanflow.interact.pool import Pool
from scanflow.interact.strategies.base import QueryStrategy
from scanflow.interact.strategies.kmeans import weighted_kmeans
from scanflow.interact.strategies.uncertainty import hesitation, margins

__all__ = ["MarginClusters", "weighted_kmeans"]


class MarginClusters(QueryStrategy):
    """Margin sampling within k-means clusters of the most uncertain samples.

    ``candidates``: how many uncertain samples per sample to ask (5: a batch of
    10 is chosen among the 50 smallest margins). While the model has learnt
    from fewer than ``cold_start_labels`` samples (the pool's ``labelled``),
    its margins are unreliable and ``cold_start_candidates`` is used instead,
    spreading the batch wider. ``pick``: ``"central"`` (the sample nearest each
    cluster's centre) or ``"uncertain"`` (the smallest margin in each cluster).
    """

    name: ClassVar[str] = "hybrid"
    needs: ClassVar[tuple[str, ...]] = ("probabilities",)

    def __init__(
        self,
        candidates: float = 5.0,
        pick: Literal["central", "uncertain"] = "central",
        cold_start_candidates: float = 20.0,
        cold_start_labels: int = 40,
    ):
        if min(candidates, cold_start_candidates) < 1:
            raise ValueError(f"candidates is a multiple of the batch size, at least 1; got {candidates}")
        if pick not in ("central", "uncertain"):
            raise ValueError(f"pick must be 'central' or 'uncertain', got {pick!r}")
        self.candidates = candidates
        self.pick = pick
        self.cold_start_candidates = cold_start_candidates
        self.cold_start_labels = cold_start_labels

    def _select(
        self, pool: Pool, batch_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        assert pool.probabilities is not None
        margin = margins(pool.probabilities)
        known = 0 if pool.labelled is None else len(pool.labelled)
        multiple = self.cold_start_candidates if known < self.cold_start_labels else self.candidates
        count = min(len(pool), max(batch_size, int(round(multiple * batch_size))))
        candidates = np.argpartition(margin, count - 1)[:count] if count < len(pool) else np.arange(len(pool))
        if count == batch_size:
            picks = candidates
        else:
            picks = self._one_per_cluster(pool.features[candidates], margin[candidates], batch_size, rng)
            picks = candidates[picks]
        picks = picks[np.argsort(margin[picks], kind="stable")]
        reasons = [f"{hesitation(pool, int(p))}; typical of its cluster of uncertain samples" for p in picks]
        return picks, 1.0 - margin[picks], reasons

    def _one_per_cluster(
        self, features: np.ndarray, margin: np.ndarray, clusters: int, rng: np.random.Generator
    ) -> np.ndarray:
        # Uncertainty weighs on where the clusters sit: centres lean to the most confusing samples.
        weights = 1.0 - margin + 1e-6
        assignment, centres = weighted_kmeans(features, weights, clusters, rng)
        picks = []
        for k in range(clusters):
            members = np.flatnonzero(assignment == k)
            if len(members) == 0:
                continue
            if self.pick == "uncertain":
                picks.append(members[np.argmin(margin[members])])
            else:
                distance = ((features[members] - centres[k]) ** 2).sum(axis=1)
                picks.append(members[np.argmin(distance)])
        if len(picks) < clusters:  # empty clusters (duplicate samples): fill with the next most uncertain
            chosen = set(picks)
            picks += [i for i in np.argsort(margin, kind="stable") if i not in chosen][
                : clusters - len(picks)
            ]
        return np.asarray(picks, dtype=int)
