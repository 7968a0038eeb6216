"""Hybrid: uncertain samples, spread over the pool (margin within diverse clusters).

Uncertainty alone asks ten near-copies of the same confusing digit; diversity
alone asks about easy samples. This strategy takes the ``candidates`` x batch
samples with the smallest margin, clusters them into one cluster per label to
ask, and from each cluster asks the sample nearest its centre: the most
typical of a distinct kind of confusion, rather than an outlier.

How much the margins can be trusted changes as labels come in, so the
strategy moves through phases, counted in labels per class:

* fewer than 2 per class: the margins are noise; ask typical samples of the
  largest regions no label covers (``typical.py``, TypiClust);
* fewer than 4 per class: margins are rough; cluster a wider set of candidates;
* from 15 per class: the model is good and the boundaries are what is left;
  ask the most uncertain sample of each cluster instead of the most central;
* whenever fewer than a batch of samples are uncertain (margin under
  ``sure_margin``), uncertainty has nothing left to say: back to the typical
  samples of uncovered regions, which find what the model is sure of but has
  never seen labelled.

It is the default: cheap (linear in the pool, k-means on a few hundred samples).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from scanflow.interact.pool import Pool
from scanflow.interact.strategies.base import QueryStrategy
from scanflow.interact.strategies.kmeans import weighted_kmeans
from scanflow.interact.strategies.typical import typical_uncovered
from scanflow.interact.strategies.uncertainty import hesitation, margins

__all__ = ["MarginClusters", "weighted_kmeans"]

Pick = Literal["auto", "central", "uncertain"]


class MarginClusters(QueryStrategy):
    """Margin sampling within k-means clusters of the most uncertain samples.

    ``candidates``: how many uncertain samples per sample to ask (5: a batch of
    10 is chosen among the 50 smallest margins); ``cold_start_candidates`` is
    used instead while the model has fewer than ``cold_start_per_class``
    labels per class (the pool's ``labelled``), its margins being rough.
    ``pick``: ``"central"`` (the sample nearest each cluster's centre),
    ``"uncertain"`` (the smallest margin in each cluster) or ``"auto"``
    (central, then uncertain from ``uncertain_per_class`` labels per class).
    Below ``typical_per_class`` labels per class, or when fewer than a batch
    of samples have a margin under ``sure_margin``, the batch is typical
    samples of clusters no label covers.
    """

    name: ClassVar[str] = "hybrid"
    needs: ClassVar[tuple[str, ...]] = ("probabilities",)

    def __init__(
        self,
        candidates: float = 5.0,
        pick: Pick = "auto",
        cold_start_candidates: float = 20.0,
        cold_start_per_class: float = 4.0,
        typical_per_class: float = 2.0,
        uncertain_per_class: float = 15.0,
        sure_margin: float = 0.8,
    ):
        if min(candidates, cold_start_candidates) < 1:
            raise ValueError(f"candidates is a multiple of the batch size, at least 1; got {candidates}")
        if pick not in ("auto", "central", "uncertain"):
            raise ValueError(f"pick must be 'auto', 'central' or 'uncertain', got {pick!r}")
        if not 0.0 <= sure_margin <= 1.0:
            raise ValueError(f"sure_margin is a gap between two probabilities, 0 to 1; got {sure_margin}")
        self.candidates = candidates
        self.pick = pick
        self.cold_start_candidates = cold_start_candidates
        self.cold_start_per_class = cold_start_per_class
        self.typical_per_class = typical_per_class
        self.uncertain_per_class = uncertain_per_class
        self.sure_margin = sure_margin

    def _select(
        self, pool: Pool, batch_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        assert pool.probabilities is not None
        classes = max(pool.probabilities.shape[1], 2)
        known = 0 if pool.labelled is None else len(pool.labelled)
        if known < self.typical_per_class * classes:
            return self._typical(pool, batch_size, rng, "few labels yet")
        margin = margins(pool.probabilities)
        if known and np.count_nonzero(margin < self.sure_margin) < batch_size:
            return self._typical(pool, batch_size, rng, "the model is sure of almost every sample", margin)
        cold = known < self.cold_start_per_class * classes
        multiple = self.cold_start_candidates if cold else self.candidates
        count = min(len(pool), max(batch_size, int(round(multiple * batch_size))))
        candidates = np.argpartition(margin, count - 1)[:count] if count < len(pool) else np.arange(len(pool))
        pick = self.pick
        if pick == "auto":
            pick = "uncertain" if known >= self.uncertain_per_class * classes else "central"
        if count == batch_size:
            picks = candidates
        else:
            picks = candidates[
                one_per_cluster(pool.features[candidates], margin[candidates], batch_size, pick, rng)
            ]
        picks = picks[np.argsort(margin[picks], kind="stable")]
        where = "typical of" if pick == "central" else "the most uncertain in"
        reasons = [f"{hesitation(pool, int(p))}; {where} its cluster of uncertain samples" for p in picks]
        return picks, 1.0 - margin[picks], reasons

    def _typical(
        self,
        pool: Pool,
        batch_size: int,
        rng: np.random.Generator,
        why: str,
        margin: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Typical samples of uncovered clusters; any shortfall from the smallest margins."""
        picks = typical_uncovered(pool.features, pool.labelled, batch_size, rng)
        if margin is None:
            assert pool.probabilities is not None
            margin = margins(pool.probabilities)
        if len(picks) < batch_size:
            chosen = set(picks.tolist())
            extra = [int(i) for i in np.argsort(margin, kind="stable") if int(i) not in chosen]
            picks = np.concatenate([picks, extra[: batch_size - len(picks)]]).astype(int)
        reasons = [f"{why}: typical of a group of samples no label covers yet"] * len(picks)
        return picks, 1.0 - margin[picks], reasons


def one_per_cluster(
    features: np.ndarray, margin: np.ndarray, clusters: int, pick: str, rng: np.random.Generator
) -> np.ndarray:
    """One position per k-means cluster of ``features``: nearest the centre, or smallest margin."""
    # Uncertainty weighs on where the clusters sit: centres lean to the most confusing samples.
    weights = 1.0 - margin + 1e-6
    assignment, centres = weighted_kmeans(features, weights, clusters, rng)
    picks = []
    for k in range(clusters):
        members = np.flatnonzero(assignment == k)
        if len(members) == 0:
            continue
        if pick == "uncertain":
            picks.append(members[np.argmin(margin[members])])
        else:
            distance = ((features[members] - centres[k]) ** 2).sum(axis=1)
            picks.append(members[np.argmin(distance)])
    if len(picks) < clusters:  # empty clusters (duplicate samples): fill with the next most uncertain
        chosen = set(picks)
        picks += [i for i in np.argsort(margin, kind="stable") if i not in chosen][: clusters - len(picks)]
    return np.asarray(picks, dtype=int)
