"""The simulated labelling loop, shared by both sides of the benchmark.

Standard library, NumPy and scikit-learn only: the peer's environment (modAL,
with an older scikit-learn) imports this same file, so both sides run exactly
the same splits, starting labels, model and budgets; only the picks differ.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

# Random labels to begin with, and labels per query. The benchmark's --start and --batch set
# these variables, so modAL's side (another process, same file) runs the same setup.
START = int(os.environ.get("SCANFLOW_BENCH_START", "10"))
BATCH = int(os.environ.get("SCANFLOW_BENCH_BATCH", "10"))
BUDGET = 300
TIMED_BATCH = 10  # the batch timed on the 100,000-sample pool, whatever --batch the curves use
REPORTED = (20, 50, 100, 150, 200, 300)

# select(model, pool features, labelled features, batch size, rng) -> positions in the pool
Selector = Callable[[LogisticRegression, np.ndarray, np.ndarray, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Split:
    pool: np.ndarray
    pool_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    start: np.ndarray  # positions in the pool of the first labels


def model() -> LogisticRegression:
    return LogisticRegression(max_iter=2000)


def split(dataset: str, seed: int) -> Split:
    """Digits (pixels / 16, 500 test images) or breast cancer (standardised on the pool, 30% test)."""
    if dataset == "digits":
        features, labels = load_digits(return_X_y=True)
        features = features / 16.0
        test_size: float | int = 500
    elif dataset == "breast_cancer":
        features, labels = load_breast_cancer(return_X_y=True)
        test_size = 0.3
    else:
        raise ValueError(f"unknown dataset {dataset!r}")
    pool, test, pool_labels, test_labels = train_test_split(
        features, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    if dataset == "breast_cancer":
        scaler = StandardScaler().fit(pool)  # unlabelled pool features are known to everyone
        pool, test = scaler.transform(pool), scaler.transform(test)
    rng = np.random.default_rng(seed)
    while True:  # a model needs two classes to start from
        start = rng.choice(len(pool), START, replace=False)
        if len(np.unique(pool_labels[start])) > 1:
            return Split(pool, pool_labels, test, test_labels, start)


def fit(
    features: np.ndarray, labels: np.ndarray, start: LogisticRegression | None = None
) -> LogisticRegression:
    """The benchmark's model on these labels; from ``start``'s coefficients when it knows the same classes.

    Starting from a model fitted on all but one of the labels reaches the same
    optimum about 3x sooner; a new class changes the coefficients' shape.
    """
    fresh = model()
    if start is not None and np.array_equal(np.unique(labels), start.classes_):
        fresh.set_params(warm_start=True)
        fresh.coef_, fresh.intercept_ = start.coef_.copy(), start.intercept_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fresh.fit(features, labels)


def learning_curve(data: Split, select: Selector, seed: int, budget: int = BUDGET) -> dict:
    """Accuracy on the test set after each batch, and the time spent selecting."""
    rng = np.random.default_rng(10_000 + seed)
    labelled = list(data.start)
    accuracy: dict[int, float] = {}
    seconds = 0.0
    while True:
        fitted = fit(data.pool[labelled], data.pool_labels[labelled])
        accuracy[len(labelled)] = float(fitted.score(data.test, data.test_labels))
        if len(labelled) >= budget:
            break
        rest = np.setdiff1d(np.arange(len(data.pool)), labelled)
        started = time.perf_counter()
        picks = np.asarray(select(fitted, data.pool[rest], data.pool[labelled], BATCH, rng), dtype=int)
        seconds += time.perf_counter() - started
        if len(set(picks.tolist())) != len(picks):
            raise RuntimeError("a selector picked the same sample twice in one batch")
        labelled += [int(i) for i in rest[picks]]
    return {"accuracy": accuracy, "select_seconds": seconds}


def full_pool_accuracy(data: Split) -> float:
    return float(fit(data.pool, data.pool_labels).score(data.test, data.test_labels))


def large_pool(
    size: int = 100_000, labelled: int = 100, seed: int = 0
) -> tuple[LogisticRegression, np.ndarray, np.ndarray]:
    """A digits-like pool of ``size`` samples (jittered copies), with a model trained on ``labelled``."""
    features, labels = load_digits(return_X_y=True)
    features = features / 16.0
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(features), size)
    pool = np.clip(features[rows] + rng.normal(scale=0.05, size=(size, features.shape[1])), 0, 1)
    start = rng.choice(len(features), labelled, replace=False)
    return fit(features[start], labels[start]), pool, features[start]


class Precomputed:
    """The fitted model's answers on the timing pool, computed once: times the strategy alone."""

    def __init__(self, fitted: LogisticRegression, pool: np.ndarray):
        self.classes_ = fitted.classes_
        self.probabilities = fitted.predict_proba(pool)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.probabilities


def time_selection(select: Selector, repeats: int = 3) -> dict[str, float]:
    """Median seconds to pick a batch of 10 from a 100,000-sample pool.

    ``strategy``: with the model's probabilities already computed (the
    strategy's own work); ``with_model``: including the model's predict_proba.
    """
    fitted, pool, known = large_pool()
    rng = np.random.default_rng(0)
    out = {}
    for kind, model_ in (("strategy", Precomputed(fitted, pool)), ("with_model", fitted)):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            select(model_, pool, known, TIMED_BATCH, rng)
            times.append(time.perf_counter() - started)
        out[kind] = float(np.median(times))
    return out
