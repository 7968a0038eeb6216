"""Datasets for the checker tests: scikit-learn's bundled data and generated tables, fixed seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd


def mixed_table(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Numeric, categorical, constant and integer columns; ``shift`` moves 'income' by that many SDs."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50_000 + shift * 12_000, 12_000, n),
            "score": rng.beta(2, 5, n),
            "city": rng.choice(["paris", "lyon", "nice"], n, p=[0.5, 0.3, 0.2]),
            "member": rng.random(n) < 0.4,
            "version": np.full(n, 3.0),
        }
    )


def breast_cancer_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Reference (300 rows) and held-out rows (269) of the breast-cancer features."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer().data
    order = np.random.default_rng(seed).permutation(len(data))
    return data[order[:300]], data[order[300:]]


def digits_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits images and labels: reference (1000) and held-out (797)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.images))
    ref, rest = order[:1000], order[1000:]
    return digits.images[ref], digits.target[ref], digits.images[rest], digits.target[rest]
