"""Improve a deployed digits model on drifted production data, with labels from an oracle.

The champion learnt from clean digits with the 9s mostly missing. Production
sends smeared, noisy digits, 9s included. Scanflow's checkers flag the drift
(a per-pixel KS test, and the autoencoder's reconstruction errors when PyTorch
is installed); then, for each strategy, the improve loop picks a batch, the oracle
labels it, the workflow's training step retrains, and the challenger replaces
the champion when it scores better on held-out production data.

    python examples/improve_digits/run.py [--rounds 6] [--batch 10] [--strategies hybrid,random]
    python examples/improve_digits/run.py --seeds 4 --trainer function \
        --plot docs/images/improve_digits.png                             # the README's plot

Everything lands in `.scanflow/` of the current folder: MLflow runs and
registry, the label store and the plot (`improve_digits.png`, or `--plot PATH`).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from model import make_model
from sklearn.datasets import load_digits

from scanflow.check import UnivariateChecker
from scanflow.interact.improve import improve
from scanflow.interact.labellers import Oracle
from scanflow.interact.sources import write_dataset
from scanflow.interact.trainers import FunctionTrainer, WorkflowTrainer
from scanflow.run.runner import run_workflow
from scanflow.spec import Executor, Workflow
from scanflow.track.store import open_client, prepare_store

HERE = Path(__file__).resolve().parent
HIDDEN_CLASS = 9


def shifted(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Production style: a new pen smears each stroke to the right, and the scanner adds noise."""
    smeared = images + 0.6 * np.roll(images, 1, axis=2)
    return np.clip(smeared + rng.normal(scale=2.0, size=images.shape), 0, 16)


def make_data(folder: Path, seed: int = 0) -> dict[str, Path]:
    """reference (clean, 9s mostly missing), pool (production, unlabelled), oracle, holdout."""
    images, labels = load_digits(return_X_y=True)
    images = images.reshape(-1, 8, 8)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    clean, production = order[:700], order[700:]
    keep = [i for i in clean if labels[i] != HIDDEN_CLASS or rng.random() < 0.1]
    production_images = shifted(images[production], rng)
    pool, holdout = np.arange(len(production))[:700], np.arange(len(production))[700:]
    ids = np.array([f"p{i}" for i in production])
    paths = {
        "reference": write_dataset(folder / "reference.npz", images[keep], labels[keep]),
        "pool": write_dataset(folder / "production.npz", production_images[pool], ids=list(ids[pool])),
        "oracle": write_dataset(
            folder / "oracle.npz", production_images[pool], labels[production][pool], list(ids[pool])
        ),
        "holdout": write_dataset(
            folder / "holdout.npz", production_images[holdout], labels[production][holdout]
        ),
    }
    return paths


def drift_report(paths: dict[str, Path]) -> float:
    """Check production against the training data; the share of samples the autoencoder calls unusual.

    The KS checker answers "did the data drift?" and names the pixels that
    changed most; the autoencoder (scanflow[deep]) says how many production
    samples it rebuilds worse than 95% of the training data, and lends its
    latent space to the novelty strategy.
    """
    reference = np.load(paths["reference"])["X"].reshape(-1, 64)
    production = np.load(paths["pool"])["X"].reshape(-1, 64)
    result = UnivariateChecker().fit(reference).check(production)
    print(f"ks checker: {result.verdict} ({result.explanation})")
    autoencoder = latent_space(reference)
    errors = autoencoder.reconstruction_error
    threshold = np.percentile(errors(reference), 95)
    return float((errors(production) > threshold).mean())


def latent_space(reference: np.ndarray):  # noqa: ANN201 - AutoencoderChecker or PCALatentSpace
    """The autoencoder's latent space, or PCA's where PyTorch is not installed."""
    try:
        from scanflow.check import AutoencoderChecker

        return AutoencoderChecker(latent_dim=8, epochs=30, seed=0).fit(reference)
    except ImportError:
        from scanflow.interact.latent import PCALatentSpace

        return PCALatentSpace(components=0.9).fit(reference)


def strategy_for(name: str, paths: dict[str, Path]):  # noqa: ANN201 - a strategy name or object
    """Novelty ranks by the autoencoder's latent space, as the original Scanflow did."""
    if name != "novelty":
        return name
    from scanflow.interact.strategies import Novelty

    reference = np.load(paths["reference"])["X"].reshape(-1, 64)
    return Novelty.of(latent_space(reference), reference=reference)


def training_workflow(reference: Path) -> Workflow:
    train = Executor(
        "train", file="train.py", env_manager="current", parameters={"reference": str(reference)}
    )
    workflow = Workflow("improve-digits", nodes=[train])
    workflow.base_dir = HERE
    return workflow


def register_champion(workflow: Workflow, name: str, uri: str) -> None:
    """Train on the reference alone with the workflow, and make that version the champion."""
    step = workflow["train"].model_copy(
        update={"parameters": {**workflow["train"].parameters, "registered_model": name}}
    )
    first = Workflow(workflow.name, nodes=[step])
    first.base_dir = workflow.base_dir
    result = run_workflow(first, tracking_uri=uri, stream_logs=False, live=False)
    if not result.ok:
        raise SystemExit(f"training the champion failed; see {result.steps['train'].log_path}")
    client = open_client(uri)
    version = max(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)).version
    client.set_registered_model_alias(name, "champion", version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--strategies", default="hybrid,novelty,random")
    parser.add_argument("--seeds", type=int, default=1, help="repeat on this many data draws; plot the mean")
    parser.add_argument(
        "--trainer",
        choices=["workflow", "function"],
        default="workflow",
        help="train with the workflow's step (default) or in this process (faster, same model)",
    )
    parser.add_argument("--plot", type=Path, help="the curves' file (default .scanflow/improve_digits.png)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()

    from scanflow.home import Home

    home = Home.resolve()
    uri = home.tracking_uri()
    prepare_store(uri)
    curves: dict[str, list[list[tuple[int, float]]]] = {}
    for seed in range(args.seeds):
        folder = Path(tempfile.mkdtemp(prefix="improve-digits-"))
        paths = make_data(folder, seed)
        unusual = drift_report(paths)
        print(f"drift: {unusual:.0%} of production samples look unlike the training data (5% expected)")
        workflow = training_workflow(paths["reference"])
        for strategy in args.strategies.split(","):
            name = f"digits-{strategy}" + (f"-{seed}" if args.seeds > 1 else "")
            register_champion(workflow, name, uri)
            trainer = (
                WorkflowTrainer(workflow, "train") if args.trainer == "workflow" else FunctionTrainer(fit)
            )
            result = improve(
                name,
                pool=paths["pool"],
                holdout=paths["holdout"],
                reference=paths["reference"],
                trainer=trainer,
                strategy=strategy_for(strategy, paths),
                batch_size=args.batch,
                rounds=args.rounds,
                labeller=Oracle(paths["oracle"]),
                tracking_uri=uri,
                seed=seed,
                report=print,
            )
            curves.setdefault(strategy, []).append(champion_accuracy(result, args.batch))
        shutil.rmtree(folder, ignore_errors=True)
    mean = {
        s: [(runs[0][i][0], float(np.mean([r[i][1] for r in runs]))) for i in range(len(runs[0]))]
        for s, runs in curves.items()
    }
    print(f"\nchampion accuracy on held-out production digits (mean of {args.seeds} draw(s)):")
    for strategy, points in mean.items():
        print(f"  {strategy:10s} " + "  ".join(f"{n:>3d} labels: {a:.3f}" for n, a in points))
    if not args.no_plot:
        path = args.plot or home.root / "improve_digits.png"
        plot(mean, path, args.seeds)
        print(f"plot: {path}")


def fit(features: np.ndarray, labels: np.ndarray):  # noqa: ANN201 - the FunctionTrainer's fit
    return make_model().fit(features.reshape(len(features), -1), labels)


def champion_accuracy(result, batch: int) -> list[tuple[int, float]]:  # noqa: ANN001
    """The champion's held-out accuracy after each round (a refused challenger leaves it as it was)."""
    points = [(0, result.rounds[0].comparison.champion_score)]
    for number, round_ in enumerate(result.rounds, start=1):
        score = round_.comparison.challenger_score if round_.promoted else points[-1][1]
        points.append((number * batch, score))
    return points


def plot(curves: dict[str, list[tuple[int, float]]], path: Path, seeds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for strategy, points in curves.items():
        axes.plot(
            *zip(*points, strict=True),
            marker="o",
            label=strategy,
            linewidth=2.2 if strategy == "hybrid" else 1.3,
        )
    axes.set_xlabel("labels from production")
    axes.set_ylabel("accuracy of the champion on shifted digits")
    draws = f", mean of {seeds} data draws" if seeds > 1 else ""
    axes.set_title(f"Improving a deployed digits model after drift{draws}")
    axes.grid(alpha=0.3)
    axes.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


if __name__ == "__main__":
    main()
