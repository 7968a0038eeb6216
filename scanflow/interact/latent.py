"""A light-weight latent space: PCA, with the same methods as the autoencoder checker.

The novelty strategy needs two callables, ``embed(x) -> latent`` and
``reconstruction_error(x) -> per-sample error``. The autoencoder checker
exposes both; ``PCALatentSpace`` does too, for tabular data, small images and
machines without PyTorch: it fits in milliseconds and is linear, so its
reconstruction error is the energy off the principal subspace.
"""

from __future__ import annotations

import numpy as np

from scanflow.extras import require


class PCALatentSpace:
    """Principal components of reference data as an embedding and a reconstruction.

    ``components`` is a count, or a fraction of variance to keep (0.9: as many
    components as explain 90% of the variance). Features are standardised with
    the reference's mean and scale so no single column dominates.
    """

    def __init__(self, components: int | float = 0.9, seed: int = 0):
        self.components = components
        self.seed = seed
        self._pca = None
        self._mean: np.ndarray | None = None
        self._scale: np.ndarray | None = None

    def fit(self, reference: np.ndarray) -> PCALatentSpace:
        decomposition = require("sklearn.decomposition", "interact", "PCALatentSpace")
        data = _flat(reference)
        if len(data) < 2:
            raise ValueError("PCALatentSpace needs at least 2 reference samples to fit")
        self._mean = data.mean(axis=0)
        scale = data.std(axis=0)
        self._scale = np.where(scale > 1e-12, scale, 1.0)
        self._pca = decomposition.PCA(n_components=self.components, random_state=self.seed).fit(
            self._standardise(data)
        )
        return self

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        if self._pca is None and self._mean is None:
            raise RuntimeError("PCALatentSpace is not fitted: call fit(reference) first")
        return (_flat(x) - self._mean) / self._scale

    def embed(self, x: np.ndarray) -> np.ndarray:
        """Coordinates of each sample on the principal components."""
        return self._pca.transform(self._standardise(x))  # type: ignore[union-attr]

    def reconstruction_error(self, x: np.ndarray) -> np.ndarray:
        """Mean squared error between each (standardised) sample and its projection."""
        standard = self._standardise(x)
        rebuilt = self._pca.inverse_transform(self._pca.transform(standard))  # type: ignore[union-attr]
        return ((standard - rebuilt) ** 2).mean(axis=1)

    @property
    def dimensions(self) -> int:
        return int(self._pca.n_components_) if self._pca is not None else 0


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x.reshape(len(x), -1) if x.ndim != 2 else x
