"""The autoencoder checker: novelty from how badly a model of the reference reconstructs a batch.

A denoising autoencoder (PyTorch, CPU; dense for tables, convolutional for
images) learns to reconstruct the reference. Samples unlike anything it saw
reconstruct badly. The per-sample threshold is the ``1 - fpr`` quantile of the
errors on held-out reference rows, so about ``fpr`` of normal samples exceed it;
the batch verdict is a one-sided Mann-Whitney test of the batch's errors against
those held-out errors: a p-value, not a fixed cut-off. The encoder is public
(``embed``) because other parts of Scanflow rank samples by novelty with it.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from scipy import stats

from scanflow.check.base import Checker, CheckerError, CheckResult, FeatureDrift, require_at_least
from scanflow.check.encoding import TabularEncoder
from scanflow.check.optional import import_optional


class AutoencoderChecker(Checker):
    """Reconstruction-error drift and anomaly detection with a denoising autoencoder."""

    name = "autoencoder"

    def __init__(
        self,
        latent_dim: int = 8,
        epochs: int = 40,
        batch_size: int = 64,
        noise: float = 0.1,
        learning_rate: float = 2e-3,
        holdout: float = 0.3,
        fpr: float = 0.01,
        alpha: float = 0.05,
        max_reference: int = 20_000,
        seed: int = 0,
    ) -> None:
        if not 0 < holdout < 1:
            raise CheckerError(f"holdout must be a share between 0 and 1, got {holdout}")
        if not 0 < fpr < 1 or not 0 < alpha < 1:
            raise CheckerError("fpr and alpha must be between 0 and 1")
        require_at_least(
            1, latent_dim=latent_dim, epochs=epochs, batch_size=batch_size, max_reference=max_reference
        )
        require_at_least(0, noise=noise)
        if learning_rate <= 0:
            raise CheckerError(f"option 'learning_rate' must be above 0, got {learning_rate!r}")
        super().__init__(
            latent_dim=latent_dim,
            epochs=epochs,
            batch_size=batch_size,
            noise=noise,
            learning_rate=learning_rate,
            holdout=holdout,
            fpr=fpr,
            alpha=alpha,
            max_reference=max_reference,
            seed=seed,
        )
        self.alpha = alpha
        self.image_shape: list[int] | None = None  # [channels, height, width] for images
        self.pixel_scale = 1.0
        self.encoder = TabularEncoder()
        self.reference_errors = np.empty(0)
        self.reference_feature_errors = np.empty(0)
        self.threshold = float("nan")
        self.losses: list[float] = []
        self._model: Any = None

    # ------------------------------------------------------------ inputs
    def _prepare(self, data: Any) -> np.ndarray:
        """Rows as the network sees them: standardized vectors, or (n, c, h, w) images in [0, 1]."""
        if self.image_shape is None:
            return self.encoder.transform(data)
        array = np.asarray(data, dtype=np.float32)
        if array.ndim == 3:
            array = array[:, None, :, :]
        elif array.ndim == 4 and array.shape[1] != self.image_shape[0]:
            array = array.transpose(0, 3, 1, 2)  # channels last -> channels first
        if array.ndim != 4 or list(array.shape[1:]) != self.image_shape:
            raise CheckerError(
                f"expected images of shape (n, {', '.join(map(str, self.image_shape))}) as in the reference,"
                f" got {np.asarray(data).shape}"
            )
        return array / self.pixel_scale

    # ---------------------------------------------------------------- fit
    def fit(self, reference: Any) -> Self:
        net = import_optional("scanflow.check.autoencoder_net", "deep")
        array = None if _is_table(reference) else np.asarray(reference)
        if array is not None and array.ndim >= 3:
            shape = array.shape[1:]
            self.image_shape = [1, *shape] if len(shape) == 2 else _channels_first(list(shape))
            self.pixel_scale = float(np.nanmax(np.abs(array))) or 1.0
        else:
            self.image_shape = None
            self.encoder.fit(reference)
        data = self._prepare(reference)
        if len(data) < 10:
            raise CheckerError("the autoencoder needs at least 10 reference rows (100s are better)")
        rng = np.random.default_rng(self.config["seed"])
        # Rows beyond max_reference teach a network this small little more, and cost minutes per 100k.
        order = rng.permutation(len(data))[: self.config["max_reference"]]
        held = max(5, int(round(self.config["holdout"] * len(order))))
        train_rows, held_rows = order[held:], order[:held]
        shape = self.image_shape or [data.shape[1]]
        self._model = net.build(shape, self.config["latent_dim"])
        self.losses = net.train(
            self._model,
            data[train_rows],
            epochs=self.config["epochs"],
            batch_size=self.config["batch_size"],
            noise=self.config["noise"],
            learning_rate=self.config["learning_rate"],
            seed=self.config["seed"],
        )
        squared = self._squared_errors(data[held_rows])
        self.reference_errors = np.sort(squared.mean(axis=1))
        self.reference_feature_errors = squared.mean(axis=0)
        self.threshold = float(np.quantile(self.reference_errors, 1 - self.config["fpr"]))
        self._mark_fitted()
        return self

    # ------------------------------------------------------ public maths
    def _squared_errors(self, prepared: np.ndarray) -> np.ndarray:
        net = import_optional("scanflow.check.autoencoder_net", "deep")
        reconstructed = net.run(self._model, prepared)
        return ((reconstructed - prepared) ** 2).reshape(len(prepared), -1)

    def reconstruction_error(self, x: Any) -> np.ndarray:
        """Mean squared reconstruction error of each sample: the larger, the more novel."""
        self._require_fitted()
        return self._squared_errors(self._prepare(x)).mean(axis=1)

    def embed(self, x: Any) -> np.ndarray:
        """Latent vectors of the samples, shape (n, latent_dim)."""
        self._require_fitted()
        net = import_optional("scanflow.check.autoencoder_net", "deep")
        return net.run(self._model, self._prepare(x), part="encoder")

    def is_anomaly(self, x: Any) -> np.ndarray:
        """Which samples exceed the calibrated threshold (about ``fpr`` of normal ones do)."""
        return self.reconstruction_error(x) > self.threshold

    # -------------------------------------------------------------- check
    def check(self, batch: Any) -> CheckResult:
        self._require_fitted()
        prepared = self._prepare(batch)
        if len(prepared) == 0:
            raise CheckerError("the batch is empty: pass at least one row to check")
        squared = self._squared_errors(prepared)
        errors = squared.mean(axis=1)
        test = stats.mannwhitneyu(errors, self.reference_errors, alternative="greater")
        p_value = float(test.pvalue)
        drifted = p_value < self.alpha
        anomalies = float(np.mean(errors > self.threshold))
        ratio = float(np.median(errors) / max(np.median(self.reference_errors), 1e-12))
        features = self._feature_errors(squared)
        expected = self.config["fpr"]
        summary = (
            f"median reconstruction error ×{ratio:.2f} the reference's, {anomalies:.0%} of samples above"
            f" the threshold (expected {expected:.0%})"
        )
        if drifted:
            explanation = f"The batch is novel to the autoencoder: {summary}; Mann-Whitney p={p_value:.2g}."
        else:
            explanation = f"The batch looks like the reference to the autoencoder: {summary}; p={p_value:.2g}"
            explanation += "."
        return CheckResult(
            checker=self.name,
            verdict="drift" if drifted else "ok",
            score=anomalies,
            p_value=p_value,
            threshold=self.threshold,
            n=len(prepared),
            features=features,
            explanation=explanation,
        )

    def _feature_errors(self, squared: np.ndarray, limit: int = 20) -> list[FeatureDrift]:
        """Features ranked by how much worse they reconstruct than on the reference."""
        if self.image_shape is None:
            names = self.encoder.feature_of_output()
        else:
            c, h, w = self.image_shape
            suffix = [f"_c{k}" if c > 1 else "" for k in range(c)]
            names = [f"pixel_{y}_{x}{suffix[k]}" for k in range(c) for y in range(h) for x in range(w)]
        ratio = squared.mean(axis=0) / np.maximum(self.reference_feature_errors, 1e-12)
        best: dict[str, float] = {}
        for name, value in zip(names, ratio, strict=True):
            best[name] = max(best.get(name, 0.0), float(value))
        ranked = sorted(best.items(), key=lambda item: -item[1])[:limit]
        return [
            FeatureDrift(name, value, None, False, f"reconstruction error ×{value:.2f} the reference's")
            for name, value in ranked
        ]

    # -------------------------------------------------------- persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        net = import_optional("scanflow.check.autoencoder_net", "deep")
        encoder_values, encoder_arrays = self.encoder.get_state()
        values = {
            "image_shape": self.image_shape,
            "pixel_scale": self.pixel_scale,
            "threshold": self.threshold,
            "encoder": encoder_values,
            "losses": self.losses,
        }
        arrays = {f"weights.{k}": v for k, v in net.state_arrays(self._model).items()}
        arrays.update({f"encoder.{k}": v for k, v in encoder_arrays.items()})
        arrays["reference_errors"] = self.reference_errors
        arrays["reference_feature_errors"] = self.reference_feature_errors
        return values, arrays

    def set_state(self, values: dict[str, Any], arrays: dict[str, Any]) -> None:
        net = import_optional("scanflow.check.autoencoder_net", "deep")
        self.image_shape = values["image_shape"]
        self.pixel_scale = values["pixel_scale"]
        self.threshold = values["threshold"]
        self.losses = values.get("losses", [])
        self.encoder.set_state(
            values["encoder"], {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("encoder.")}
        )
        self.reference_errors = arrays["reference_errors"]
        self.reference_feature_errors = arrays["reference_feature_errors"]
        shape = self.image_shape or [self.encoder.width]
        self._model = net.build(shape, self.config["latent_dim"])
        weights = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("weights.")}
        net.load_arrays(self._model, weights)


def _is_table(data: Any) -> bool:
    pd = import_optional("pandas", "check")
    return isinstance(data, pd.DataFrame | pd.Series | dict)


def _channels_first(shape: list[int]) -> list[int]:
    """(h, w, c) with few channels last becomes [c, h, w]; (c, h, w) stays."""
    if shape[-1] <= 4 < shape[0]:
        return [shape[2], shape[0], shape[1]]
    return shape
