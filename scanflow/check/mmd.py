"""Multivariate drift: maximum mean discrepancy with a permutation test.

Per-column tests miss changes in how features move together; MMD compares the
whole distributions. It works on a reduced representation: principal
components of the standardized reference (default), the latent space of an
autoencoder, or the inputs as given (``reducer="none"``, e.g. a model's
softmax outputs for black-box shift detection). The Gaussian kernel's width is
the median distance between the pooled points, and the p-value counts how
often relabelled samples give a larger MMD, so it is valid at any sample size.
"""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy as np

from scanflow.check.base import Checker, CheckerError, CheckResult, require_at_least
from scanflow.check.encoding import TabularEncoder
from scanflow.check.inputs import as_frame
from scanflow.check.mean_shift import mean_shift_features

Reducer = Literal["pca", "autoencoder", "none"]
BANDWIDTH_SAMPLE = 300


class MMDChecker(Checker):
    """Kernel two-sample test (MMD) on PCA components, autoencoder latents or raw inputs."""

    name = "mmd"

    def __init__(
        self,
        reducer: Reducer = "pca",
        n_components: int = 10,
        n_permutations: int = 200,
        alpha: float = 0.05,
        max_reference: int = 500,
        seed: int = 0,
        autoencoder: dict[str, Any] | None = None,
    ) -> None:
        if reducer not in ("pca", "autoencoder", "none"):
            raise CheckerError(f"unknown reducer {reducer!r}: use 'pca', 'autoencoder' or 'none'")
        if not 0 < alpha < 1:
            raise CheckerError(f"alpha must be between 0 and 1, got {alpha}")
        require_at_least(1, n_components=n_components, n_permutations=n_permutations)
        require_at_least(2, max_reference=max_reference)
        super().__init__(
            reducer=reducer,
            n_components=n_components,
            n_permutations=n_permutations,
            alpha=alpha,
            max_reference=max_reference,
            seed=seed,
            autoencoder=autoencoder or {},
        )
        self.alpha = alpha
        self.n_permutations = n_permutations
        self.encoder = TabularEncoder()
        self.components = np.empty((0, 0))
        self.reference = np.empty((0, 0))
        self.reference_encoded_mean = np.empty(0)
        self._autoencoder: Any = None

    # ---------------------------------------------------------- reduction
    def _reduce(self, data: Any) -> np.ndarray:
        if self.config["reducer"] == "autoencoder":
            return self._autoencoder.embed(data)
        encoded = self.encoder.transform(data)
        if self.config["reducer"] == "pca":
            return encoded @ self.components.T
        return encoded

    def fit(self, reference: Any) -> Self:
        rng = np.random.default_rng(self.config["seed"])
        if self.config["reducer"] == "autoencoder":
            from scanflow.check.autoencoder import AutoencoderChecker

            options = {"seed": self.config["seed"], **self.config["autoencoder"]}
            self._autoencoder = AutoencoderChecker(**options).fit(reference)
            self.encoder.fit(as_frame(reference))
        else:
            self.encoder.fit(reference)
        if self.config["reducer"] == "pca":
            encoded = self.encoder.transform(reference)
            if len(encoded) < 2:
                raise CheckerError("the reference needs at least 2 rows for PCA")
            k = max(1, min(self.config["n_components"], encoded.shape[1], len(encoded) - 1))
            _, _, vt = np.linalg.svd(encoded - encoded.mean(axis=0), full_matrices=False)
            self.components = vt[:k]
        reduced = self._reduce(reference)
        rows = np.arange(len(reduced))
        if len(rows) > self.config["max_reference"]:
            rows = rng.choice(rows, self.config["max_reference"], replace=False)
        self.reference = reduced[rows]
        self.reference_encoded_mean = self.encoder.transform(reference).mean(axis=0)
        self._mark_fitted()
        return self

    # -------------------------------------------------------------- check
    def check(self, batch: Any) -> CheckResult:
        self._require_fitted()
        current = self._reduce(batch)
        if len(current) == 0:
            raise CheckerError("the batch is empty: pass at least one row to check")
        rng = np.random.default_rng(self.config["seed"])
        statistic, p_value = mmd_permutation_test(self.reference, current, self.n_permutations, rng)
        drifted = p_value < self.alpha
        features = mean_shift_features(self.encoder, self.reference_encoded_mean, batch)
        kind = {"pca": "PCA components", "autoencoder": "autoencoder latents", "none": "inputs"}
        where = kind[self.config["reducer"]]
        if drifted:
            explanation = (
                f"The batch's joint distribution differs from the reference (MMD² {statistic:.3g} on"
                f" {where}, permutation p={p_value:.2g} < {self.alpha:g})"
            )
            if features:
                explanation += f"; the largest mean shift is in '{features[0].feature}'"
            explanation += "."
        else:
            explanation = (
                f"The batch is consistent with the reference (MMD² {statistic:.3g} on {where},"
                f" permutation p={p_value:.2g} ≥ {self.alpha:g})."
            )
        return CheckResult(
            checker=self.name,
            verdict="drift" if drifted else "ok",
            score=statistic,
            p_value=p_value,
            threshold=self.alpha,
            n=len(current),
            features=features,
            explanation=explanation,
        )

    # -------------------------------------------------------- persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        values, arrays = self.encoder.get_state()
        arrays = {f"encoder.{k}": v for k, v in arrays.items()}
        arrays.update(
            components=self.components,
            reference=self.reference,
            reference_encoded_mean=self.reference_encoded_mean,
        )
        state: dict[str, Any] = {"encoder": values}
        if self._autoencoder is not None:
            inner_values, inner_arrays = self._autoencoder.get_state()
            state["autoencoder"] = {"config": self._autoencoder.config, "state": inner_values}
            arrays.update({f"autoencoder.{k}": v for k, v in inner_arrays.items()})
        return state, arrays

    def set_state(self, values: dict[str, Any], arrays: dict[str, Any]) -> None:
        encoder_arrays = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("encoder.")}
        self.encoder.set_state(values["encoder"], encoder_arrays)
        self.components = arrays["components"]
        self.reference = arrays["reference"]
        self.reference_encoded_mean = arrays["reference_encoded_mean"]
        if "autoencoder" in values:
            from scanflow.check.autoencoder import AutoencoderChecker

            inner = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("autoencoder.")}
            self._autoencoder = AutoencoderChecker(**values["autoencoder"]["config"])
            self._autoencoder.set_state(values["autoencoder"]["state"], inner)
            self._autoencoder._mark_fitted()


def mmd_permutation_test(
    reference: np.ndarray, batch: np.ndarray, n_permutations: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Biased MMD² with a Gaussian kernel (median-heuristic width) and its permutation p-value.

    Every permutation costs one column of a matrix product, so 200 permutations of
    1000 points take about as long as building the kernel.
    """
    pooled = np.concatenate([reference, batch]).astype(float)
    squares = np.sum(pooled**2, axis=1)
    distances = np.maximum(squares[:, None] + squares[None, :] - 2 * pooled @ pooled.T, 0.0)
    sample = rng.permutation(len(pooled))[:BANDWIDTH_SAMPLE]  # the median of a sample is as good
    upper = distances[np.ix_(sample, sample)][np.triu_indices(len(sample), k=1)]
    bandwidth = float(np.median(upper)) if upper.size else 1.0
    kernel = np.exp(-distances / (bandwidth if bandwidth > 0 else 1.0))
    m, n = len(reference), len(batch)
    labels = np.concatenate([np.full(m, 1.0 / m), np.full(n, -1.0 / n)])
    weights = np.empty((len(pooled), n_permutations + 1))
    weights[:, 0] = labels
    for j in range(1, n_permutations + 1):
        weights[:, j] = rng.permutation(labels)
    mmd = np.einsum("ij,ij->j", weights, kernel @ weights)
    observed = float(mmd[0])
    p_value = float((1 + np.sum(mmd[1:] >= observed - 1e-12)) / (1 + n_permutations))
    return max(observed, 0.0), p_value
