"""python -m benchmarks.active_learning [--seeds 30] [--datasets digits,breast_cancer] [--quick]
                                       [--start 10] [--batch 10]

Learning curves from 10 random labels, in batches of 10, up to 300 labels,
for each Scanflow strategy and for modAL (in its own environment), on the
same splits; then the time to pick a batch from a 100,000-sample pool.

30 seeds by default: a strategy's curve depends on every earlier pick, so a
last-digit difference in floating point (another CPU's BLAS kernels) sends a
seed down another path. With 10 seeds the mean moves by about 0.003 from
machine to machine; the report gives each comparison its paired noise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.active_learning import loop, peer, report

ROOT = Path(__file__).resolve().parents[2]
OURS = ("hybrid", "margin", "least-confidence", "entropy", "diversity", "novelty", "random")


def scanflow_selector(name: str):  # noqa: ANN201 - a loop.Selector
    from scanflow.interact.pool import Pool
    from scanflow.interact.strategies import make_strategy

    strategy = make_strategy(name)

    def select(fitted, pool, labelled, batch, rng):  # noqa: ANN001, ANN202
        view = Pool(pool, probabilities=fitted.predict_proba(pool), labelled=labelled)
        return strategy.select(view, batch, seed=int(rng.integers(2**31 - 1))).positions

    return select


def _curve(task: tuple[str, str, int]) -> tuple[str, str, int, dict]:
    dataset, name, seed = task
    return dataset, name, seed, loop.learning_curve(loop.split(dataset, seed), scanflow_selector(name), seed)


def one_thread() -> None:
    """Each process computes on one core; two processes share the machine's two."""
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def environment() -> dict[str, str]:
    """What the numbers depend on beyond the code: library versions and the CPU."""
    import platform

    import scipy
    import sklearn

    cpu = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
        platform.processor(),
    )
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "cpu": f"{cpu}, {os.cpu_count()} cores",
    }


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def use_setup(start: int, batch: int) -> None:
    """Start and batch sizes for this process, its workers and modAL's side (through the environment)."""
    missed = [b for b in loop.REPORTED if start < 2 or batch < 1 or b < start or (b - start) % batch]
    if missed:
        raise SystemExit(
            f"--start {start} --batch {batch} never lands on {', '.join(map(str, missed))} labels: the"
            f" table reports {', '.join(map(str, loop.REPORTED))}, so start at 2 or more, at most"
            f" {loop.REPORTED[0]}, with a batch that steps onto each (e.g. --start 10 --batch 5)"
        )
    loop.START, loop.BATCH = start, batch
    os.environ["SCANFLOW_BENCH_START"], os.environ["SCANFLOW_BENCH_BATCH"] = str(start), str(batch)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.active_learning", description=__doc__)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--datasets", default="digits,breast_cancer")
    parser.add_argument("--strategies", default=",".join(OURS))
    parser.add_argument("--quick", action="store_true", help="2 seeds, a smoke test of the benchmark itself")
    parser.add_argument("--start", type=int, default=loop.START, help="random labels to begin with")
    parser.add_argument("--batch", type=int, default=loop.BATCH, help="labels per query")
    parser.add_argument(
        "--peer-env", type=Path, default=peer.DEFAULT_FOLDER, help="modAL's environment folder"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip modAL")
    parser.add_argument("--images", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument(
        "--results", type=Path, default=ROOT / "benchmarks" / "active_learning" / "results.json"
    )
    args = parser.parse_args()
    use_setup(args.start, args.batch)
    seeds = 2 if args.quick else args.seeds
    datasets = args.datasets.split(",")
    strategies = args.strategies.split(",")
    one_thread()
    started = time.perf_counter()

    peer_results: dict = {}
    peer_error: list[BaseException] = []

    def run_peer() -> None:
        try:
            peer_results.update(peer.run_peer("curves", ",".join(datasets), str(seeds), folder=args.peer_env))
        except BaseException as error:  # reported after our side finishes
            peer_error.append(error)

    peer_thread = threading.Thread(target=run_peer)
    if not args.no_peer:
        peer_thread.start()

    tasks = [(d, s, seed) for d in datasets for s in strategies for seed in range(seeds)]
    curves: dict = {d: {s: [None] * seeds for s in strategies} for d in datasets}
    with ProcessPoolExecutor(max_workers=2, initializer=one_thread) as executor:
        for done, (dataset, name, seed, result) in enumerate(executor.map(_curve, tasks), start=1):
            curves[dataset][name][seed] = result
            print(f"\r{done}/{len(tasks)} learning curves", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    full = {d: [loop.full_pool_accuracy(loop.split(d, seed)) for seed in range(seeds)] for d in datasets}
    if not args.no_peer:
        peer_thread.join()
        if peer_error:
            raise SystemExit(f"modAL's side failed: {peer_error[0]}")
        for dataset, by_name in peer_results.items():
            for name, runs in by_name.items():
                curves[dataset][name] = [
                    {**r, "accuracy": {int(k): v for k, v in r["accuracy"].items()}} for r in runs
                ]
    # Timings last, one at a time, so no measurement shares the machine with the curves.
    print("timing selection on a 100,000-sample pool...", file=sys.stderr, flush=True)
    timing = {f"scanflow {s}": loop.time_selection(scanflow_selector(s)) for s in strategies}
    if not args.no_peer:
        timing.update(peer.run_peer("timing", folder=args.peer_env))

    results = {
        "setup": {"seeds": seeds, "start": loop.START, "batch": loop.BATCH, "budget": loop.BUDGET},
        "environment": environment(),
        "full_pool": full,
        "curves": {d: {n: [r["accuracy"] for r in rs] for n, rs in by.items()} for d, by in curves.items()},
        "select_100k_seconds": timing,
        "wall_seconds": time.perf_counter() - started,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, separators=(",", ":")))
    print(report.render(results))
    for dataset in datasets:
        path = report.plot(results, dataset, args.images / f"active_learning_{dataset}.png")
        print(f"plot: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
