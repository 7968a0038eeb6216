"""The peer side: modAL's strategies on the shared loop, in modAL's own environment.

Run by the benchmark with the interpreter of that environment (modAL 0.4.2.1
needs scikit-learn older than 1.8). Usage:
modal_runner.py curves DATASETS SEEDS OUT.json | modal_runner.py timing OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loop  # noqa: E402 - the shared loop, by path: this environment has no Scanflow
from modAL.batch import uncertainty_batch_sampling  # noqa: E402
from modAL.models import ActiveLearner  # noqa: E402
from modAL.uncertainty import margin_sampling, uncertainty_sampling  # noqa: E402


def _indices(result: object) -> np.ndarray:
    """modAL versions answer indices, or (indices, samples)."""
    return np.asarray(result[0] if isinstance(result, tuple) else result).ravel()


def with_fitted(strategy):  # noqa: ANN001, ANN201
    """A modAL strategy that only needs the fitted classifier (uncertainty, margin)."""

    def select(fitted, pool, labelled, batch, rng):  # noqa: ANN001, ANN202
        return _indices(strategy(fitted, pool, n_instances=batch))

    return select


def ranked_batch(fitted, pool, labelled, batch, rng):  # noqa: ANN001, ANN201
    """modAL's ranked batch mode: it reads the labelled set from an ActiveLearner."""
    learner = ActiveLearner(estimator=loop.model(), query_strategy=uncertainty_batch_sampling)
    learner.estimator, learner.X_training = fitted, labelled
    return _indices(learner.query(pool, n_instances=batch))


STRATEGIES = {
    "modAL uncertainty": with_fitted(uncertainty_sampling),
    "modAL margin": with_fitted(margin_sampling),
    "modAL ranked batch": ranked_batch,
}


def main(argv: list[str]) -> None:
    """``curves DATASETS SEEDS OUT.json`` or ``timing OUT.json``."""
    if argv[0] == "curves":
        datasets, seeds, out = argv[1].split(","), int(argv[2]), Path(argv[3])
        curves: dict = {}
        for dataset in datasets:
            for name, select in STRATEGIES.items():
                runs = [loop.learning_curve(loop.split(dataset, seed), select, seed) for seed in range(seeds)]
                curves.setdefault(dataset, {})[name] = runs
                print(f"peer: {dataset} {name} done", file=sys.stderr, flush=True)
        out.write_text(json.dumps(curves))
    else:
        Path(argv[1]).write_text(json.dumps({name: loop.time_selection(s) for name, s in STRATEGIES.items()}))


if __name__ == "__main__":
    main(sys.argv[1:])
