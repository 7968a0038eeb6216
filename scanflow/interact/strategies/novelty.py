"""Novelty: ask about what looks unlike the data the model learnt from.

The original Scanflow's approach: an autoencoder trained on the reference data
rebuilds familiar samples well and new ones badly, and its latent space puts
new samples far from the reference. Both signals are scaled by their value on
the reference itself (its 95th percentile), so a score of 1 means "as unusual
as the most unusual 5% of the reference", and are averaged.

Any object with ``embed(x)`` and ``reconstruction_error(x)`` works: the
autoencoder checker, or ``PCALatentSpace`` (the default, fitted on the
reference when no latent space is given).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from scanflow.extras import require
from scanflow.interact.latent import PCALatentSpace
from scanflow.interact.pool import Pool
from scanflow.interact.strategies.base import QueryStrategy, top_k

Embed = Callable[[np.ndarray], np.ndarray]
ReconstructionError = Callable[[np.ndarray], np.ndarray]
_TYPICAL = 95  # percentile of the reference that scores 1


class Novelty(QueryStrategy):
    """Score reconstruction error and latent distance to the reference, relative to the reference.

    ``reference`` defaults to the pool's labelled samples. ``weight`` is the
    share of the reconstruction error in the score (the rest is the mean
    distance to the ``neighbours`` nearest reference samples in latent space).
    """

    name: ClassVar[str] = "novelty"

    def __init__(
        self,
        embed: Embed | None = None,
        reconstruction_error: ReconstructionError | None = None,
        reference: np.ndarray | None = None,
        weight: float = 0.5,
        neighbours: int = 5,
    ):
        if (embed is None) != (reconstruction_error is None):
            raise ValueError("give both embed and reconstruction_error (e.g. an autoencoder's), or neither")
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight is the share of reconstruction error, between 0 and 1; got {weight}")
        self.weight = weight
        self.neighbours = neighbours
        self._given = (embed, reconstruction_error) if embed is not None else None
        self._reference = None if reference is None else np.asarray(reference)
        self._calibrated_on: np.ndarray | None = None

    @classmethod
    def of(cls, latent_space: object, reference: np.ndarray | None = None, **options: float) -> Novelty:
        """A novelty strategy on any object with ``embed`` and ``reconstruction_error`` methods."""
        return cls(latent_space.embed, latent_space.reconstruction_error, reference, **options)  # type: ignore[attr-defined]

    def _calibrate(self, reference: np.ndarray) -> None:
        """Fit the neighbour index and the reference's typical values (once per reference)."""
        if self._calibrated_on is reference:
            return
        if len(reference) < 2:
            raise ValueError("novelty needs at least 2 reference samples to tell usual from unusual")
        if self._given is not None:
            self._embed, self._error = self._given
        else:
            space = PCALatentSpace().fit(reference)
            self._embed, self._error = space.embed, space.reconstruction_error
        neighbors = require("sklearn.neighbors", "interact", "the novelty strategy")
        latent = np.asarray(self._embed(reference))
        k = min(self.neighbours, len(latent) - 1)
        # k + 1 neighbours: each reference sample is its own nearest one and must not count.
        self._index = neighbors.NearestNeighbors(n_neighbors=k + 1).fit(latent)
        own = self._index.kneighbors(latent)[0][:, 1:].mean(axis=1)
        self._k = k
        self._distance_scale = _positive(np.percentile(own, _TYPICAL))
        self._error_scale = _positive(np.percentile(np.asarray(self._error(reference)), _TYPICAL))
        self._calibrated_on = reference

    def parts(self, pool: Pool) -> tuple[np.ndarray, np.ndarray]:
        """Reconstruction error and latent distance of each sample, in units of the reference's."""
        reference = self._reference if self._reference is not None else pool.labelled
        if reference is None:
            raise ValueError(
                "novelty needs reference data: give Novelty(reference=...) or a pool with labelled samples"
            )
        self._calibrate(reference)
        error = np.asarray(self._error(pool.features)) / self._error_scale
        latent = np.asarray(self._embed(pool.features))
        distance = self._index.kneighbors(latent, n_neighbors=self._k)[0].mean(axis=1)
        return error, distance / self._distance_scale

    def scores(self, pool: Pool) -> np.ndarray:
        """Novelty of every sample: 1 is as unusual as the reference's most unusual 5%."""
        error, distance = self.parts(pool)
        return self.weight * error + (1.0 - self.weight) * distance

    def _select(
        self, pool: Pool, batch_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        error, distance = self.parts(pool)
        scores = self.weight * error + (1.0 - self.weight) * distance
        positions = top_k(scores, batch_size)
        reasons = [
            f"unlike the reference: reconstruction error {error[p]:.1f}x,"
            f" latent distance {distance[p]:.1f}x the reference's 95th percentile"
            for p in positions
        ]
        return positions, scores[positions], reasons


def _positive(value: float) -> float:
    return float(value) if value > 1e-12 else 1.0
