"""python -m benchmarks.active_learning.ceiling [--seeds 30] [--budget 150] [--candidates 15,15|all]
                                                [--criterion loss|error]

How far can choosing samples alone take this model? A greedy oracle that
knows the label of every pool sample (never a test label) adds one label at
a time: of a set of candidates (the 15 smallest margins and 15 random
samples, or with ``--candidates all`` every unlabelled sample), the one
whose label most lowers the model's log-loss on the whole pool (or, with
``--criterion error``, its error rate on the pool, ties broken by log-loss:
the measure the benchmark reports, which proves the worse guide). It reads the
answers, so it is no strategy; it estimates what a strategy could reach with
the benchmark's model, starting labels and budget. It runs beside the
default strategy on the same splits and prints both against 99% of the
full-pool accuracy. About 40 s of CPU per seed; with ``all``, about an hour.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from benchmarks.active_learning import loop
from benchmarks.active_learning.__main__ import one_thread, scanflow_selector
from benchmarks.active_learning.report import DEFAULT as DEFAULT_STRATEGY

CANDIDATES: tuple[int, int] | None = (15, 15)  # smallest margins and random ones; None: every sample
REPORTED = (50, 100, 120, 150)

PoolScore = Callable[..., float]  # (fitted model, split) -> lower is better


def pool_log_loss(fitted, data: loop.Split) -> float:  # noqa: ANN001 - a fitted LogisticRegression
    """Mean log-loss of ``fitted`` on every pool sample, with the pool's true labels."""
    probabilities = np.full((len(data.pool), int(data.pool_labels.max()) + 1), 1e-9)
    probabilities[:, fitted.classes_] = fitted.predict_proba(data.pool)
    return float(-np.log(probabilities[np.arange(len(data.pool)), data.pool_labels] + 1e-9).mean())


def pool_error(fitted, data: loop.Split) -> float:  # noqa: ANN001 - a fitted LogisticRegression
    """Error rate of ``fitted`` on the pool; a thousandth of the log-loss breaks the many ties."""
    return float((fitted.predict(data.pool) != data.pool_labels).mean()) + 1e-3 * pool_log_loss(fitted, data)


CRITERIA: dict[str, PoolScore] = {"loss": pool_log_loss, "error": pool_error}


def oracle_curve(
    seed: int, budget: int, candidates: tuple[int, int] | None = CANDIDATES, criterion: str = "loss"
) -> dict[int, float]:
    """Test accuracy after every tenth label of the greedy pool-label oracle."""
    data = loop.split("digits", seed)
    rng = np.random.default_rng(seed)
    labelled = [int(i) for i in data.start]
    accuracy: dict[int, float] = {}
    while True:
        fitted = loop.fit(data.pool[labelled], data.pool_labels[labelled])
        if len(labelled) % loop.BATCH == 0:
            accuracy[len(labelled)] = float(fitted.score(data.test, data.test_labels))
        if len(labelled) >= budget:
            return accuracy
        rest = np.setdiff1d(np.arange(len(data.pool)), labelled)
        if candidates is not None:
            rest = shortlist(fitted, data, rest, candidates, rng)
        labelled.append(best_next_label(fitted, data, labelled, rest, CRITERIA[criterion]))


def shortlist(fitted, data: loop.Split, rest: np.ndarray, candidates: tuple[int, int], rng) -> np.ndarray:  # noqa: ANN001
    """The smallest margins among ``rest`` and random others: the oracle's choice, made cheaper."""
    uncertain_count, random_count = candidates
    ranked = np.sort(fitted.predict_proba(data.pool[rest]), axis=1)
    uncertain = rest[np.argsort(ranked[:, -1] - ranked[:, -2])[:uncertain_count]]
    return np.unique(np.concatenate([uncertain, rng.choice(rest, random_count, replace=False)]))


def best_next_label(
    fitted,  # noqa: ANN001 - a fitted LogisticRegression
    data: loop.Split,
    labelled: list[int],
    candidates: np.ndarray,
    score: PoolScore = pool_log_loss,
) -> int:
    """The candidate whose label, added to ``labelled``, leaves the lowest ``score`` on the pool."""

    def loss_with(candidate: int) -> float:
        chosen = [*labelled, int(candidate)]
        return score(loop.fit(data.pool[chosen], data.pool_labels[chosen], start=fitted), data)

    return int(min(candidates, key=loss_with))


def strategy_curve(seed: int, budget: int) -> dict[int, float]:
    data = loop.split("digits", seed)
    return loop.learning_curve(data, scanflow_selector(DEFAULT_STRATEGY), seed, budget)["accuracy"]


def _task(task: tuple[str, int, int, tuple[int, int] | None, str]) -> tuple[str, dict[int, float] | float]:
    kind, seed, budget, candidates, criterion = task
    if kind == "full":
        return kind, loop.full_pool_accuracy(loop.split("digits", seed))
    if kind == "oracle":
        return kind, oracle_curve(seed, budget, candidates, criterion)
    return kind, strategy_curve(seed, budget)


def parse_candidates(text: str) -> tuple[int, int]:
    try:
        uncertain, at_random = (int(n) for n in text.split(","))
    except ValueError:
        raise SystemExit(
            f"--candidates takes 'U,R' (two counts, as in 15,15) or 'all', not {text!r}"
        ) from None
    return uncertain, at_random


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.active_learning.ceiling", description=__doc__)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument(
        "--candidates",
        default="15,15",
        help="the oracle's candidates per label: 'smallest margins,random', or 'all' unlabelled samples",
    )
    parser.add_argument(
        "--criterion",
        choices=sorted(CRITERIA),
        default="loss",
        help="what the oracle lowers on the pool: log-loss, or error rate (ties broken by log-loss)",
    )
    args = parser.parse_args()
    one_thread()
    kinds = ("oracle", DEFAULT_STRATEGY, "full")
    candidates = None if args.candidates == "all" else parse_candidates(args.candidates)
    tasks = [
        (kind, seed, args.budget, candidates, args.criterion) for seed in range(args.seeds) for kind in kinds
    ]
    results: dict[str, list] = {}
    with ProcessPoolExecutor(2, initializer=one_thread) as pool:
        for kind, result in pool.map(_task, tasks):
            results.setdefault(kind, []).append(result)
    level = 0.99 * float(np.mean(results.pop("full")))
    budgets = [b for b in REPORTED if b <= args.budget]
    print(f"digits, {args.seeds} seeds; 99% of full-pool accuracy: {level:.3f}")
    print(f"{'labels':<28}" + "".join(f"{b:>8}" for b in budgets))
    for kind, curves in results.items():
        name = f"pool-label oracle ({args.criterion})" if kind == "oracle" else f"{kind} (default)"
        print(f"{name:<28}" + "".join(f"{np.mean([c[b] for c in curves]):>8.3f}" for b in budgets))


if __name__ == "__main__":
    main()
