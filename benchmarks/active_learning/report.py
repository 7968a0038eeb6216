"""The benchmark's table, target checks and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.active_learning.loop import REPORTED

DEFAULT = "hybrid"
TARGET_LABELS = 150
TARGET_SECONDS = 0.1


def mean_curve(runs: list[dict]) -> dict[int, float]:
    budgets = sorted(int(b) for b in runs[0])
    return {b: float(np.mean([r[b] if b in r else r[str(b)] for r in runs])) for b in budgets}


def labels_to_reach(curve: dict[int, float], level: float) -> int | None:
    return next((b for b, a in sorted(curve.items()) if a >= level), None)


def render(results: dict) -> str:
    setup = results["setup"]
    lines = [
        f"Active learning: LogisticRegression, {setup['seeds']} seeds,"
        f" {setup['start']} random labels to start,"
        f" batches of {setup['batch']}, up to {setup['budget']} labels. Mean test accuracy.",
    ]
    checks: list[str] = []
    for dataset, by_name in results["curves"].items():
        full = float(np.mean(results["full_pool"][dataset]))
        level = 0.99 * full
        curves = {name: mean_curve(runs) for name, runs in by_name.items()}
        lines += ["", f"{dataset}: full-pool accuracy {full:.3f}; 99% of it = {level:.3f}", ""]
        header = f"{'strategy':28s}" + "".join(f"{b:>8d}" for b in REPORTED) + f"{'to 99%':>9s}"
        lines += [header, "-" * len(header)]
        for name, curve in curves.items():
            reach = labels_to_reach(curve, level)
            label = name if name.startswith("modAL") else f"scanflow {name}"
            row = f"{label:28s}" + "".join(f"{curve[b]:8.3f}" for b in REPORTED)
            lines.append(row + f"{reach if reach else '>' + str(setup['budget']):>9}")
        checks += _checks(dataset, by_name, level)
    lines += [
        "",
        "Selecting a batch of 10 from 100,000 samples (median of 3): the strategy alone (probabilities",
        "computed beforehand), and with the model's predict_proba included:",
        "",
        f"  {'strategy':28s}{'alone':>10s}{'with model':>12s}",
    ]
    timing = results["select_100k_seconds"]
    for name, seconds in sorted(timing.items(), key=lambda kv: kv[1]["strategy"]):
        lines.append(
            f"  {name:28s}{seconds['strategy'] * 1000:8.1f} ms{seconds['with_model'] * 1000:9.1f} ms"
        )
    ours = timing.get(f"scanflow {DEFAULT}")
    peers = {k: v for k, v in timing.items() if k.startswith("modAL")}
    if ours is not None:
        for name, seconds in peers.items():
            ratio = seconds["strategy"] / ours["strategy"]
            lines.append(f"  {name} takes {ratio:.1f}x the time of scanflow {DEFAULT} (strategy alone)")
        alone = ours["strategy"] * 1000
        checks.append(
            _mark(
                "met" if alone < TARGET_SECONDS * 1000 else "MISSED",
                f"{DEFAULT} selects from 100,000 in {alone:.0f} ms (< 100 ms)",
            )
        )
    lines += [
        "",
        "Targets (± is the paired standard error over the seeds; tied = behind by less than twice it):",
        *checks,
    ]
    if "environment" in results:
        lines += ["", "Environment: " + ", ".join(f"{k} {v}" for k, v in results["environment"].items())]
    lines += ["", f"wall time {results['wall_seconds']:.0f} s"]
    return "\n".join(lines)


def _mark(verdict: str, text: str) -> str:
    return f"  {verdict:6s}  {text}"


def _verdict(gap: float, noise: float) -> str:
    """``met`` when ahead on average; ``tied`` when behind by less than twice the paired noise."""
    if gap >= 0:
        return "met"
    return "tied" if gap + 2 * noise >= 0 else "MISSED"


def accuracies(runs: list[dict], budget: int) -> np.ndarray:
    return np.array([r[budget] if budget in r else r[str(budget)] for r in runs])


def paired_gap(ours: list[dict], theirs: list[dict], budget: int) -> tuple[float, float]:
    """Mean accuracy difference over the same seeds (same splits), and its standard error."""
    differences = accuracies(ours, budget) - accuracies(theirs, budget)
    noise = float(differences.std(ddof=1) / np.sqrt(len(differences))) if len(differences) > 1 else 0.0
    return float(differences.mean()), noise


def _checks(dataset: str, by_name: dict[str, list[dict]], level: float) -> list[str]:
    if DEFAULT not in by_name:
        return []
    ours = by_name[DEFAULT]
    curve = mean_curve(ours)
    out = []
    if dataset == "digits":
        reach = labels_to_reach(curve, level)
        at_target = accuracies(ours, TARGET_LABELS)
        spread = at_target.std(ddof=1) / np.sqrt(len(at_target)) if len(at_target) > 1 else 0.0
        out.append(
            _mark(
                "met" if reach is not None and reach <= TARGET_LABELS else "MISSED",
                f"digits: {DEFAULT} reaches 99% of full-pool ({level:.3f}) at {reach} labels"
                f" (<= {TARGET_LABELS}; at {TARGET_LABELS}: {at_target.mean():.3f} ± {spread:.3f})",
            )
        )
    seeds = len(ours)
    if "random" in by_name:
        gaps = {b: paired_gap(ours, by_name["random"], b) for b in curve if b > min(curve)}
        worst = min(gaps, key=lambda b: gaps[b][0])
        gap, noise = gaps[worst]
        out.append(
            _mark(
                _verdict(gap, noise),
                f"{dataset}: {DEFAULT} never below random"
                f" (worst {gap:+.4f} ± {noise:.4f} at {worst} labels, {seeds} seeds)",
            )
        )
    peers = [name for name in by_name if name.startswith("modAL")]
    if peers:
        gaps = {}
        for budget in REPORTED:
            best = max(peers, key=lambda p: accuracies(by_name[p], budget).mean())
            gaps[budget] = paired_gap(ours, by_name[best], budget)
        worst = min(gaps, key=lambda b: gaps[b][0])
        gap, noise = gaps[worst]
        out.append(
            _mark(
                _verdict(gap, noise),
                f"{dataset}: {DEFAULT} >= modAL's best at every budget"
                f" (worst {gap:+.4f} ± {noise:.4f} at {worst} labels)",
            )
        )
    return out


def plot(results: dict, dataset: str, path: Path) -> Path:
    """Accuracy against labels, one line per strategy; the 99%-of-full-pool level dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full = float(np.mean(results["full_pool"][dataset]))
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    for name, runs in results["curves"][dataset].items():
        curve = mean_curve(runs)
        peer = name.startswith("modAL")
        axes.plot(
            list(curve),
            list(curve.values()),
            label=name if peer else f"scanflow {name}",
            linestyle="--" if peer else "-",
            linewidth=2.4 if name == DEFAULT else 1.3,
        )
    axes.axhline(0.99 * full, color="grey", linestyle=":", linewidth=1, label="99% of full-pool accuracy")
    low = min(min(mean_curve(r).values()) for r in results["curves"][dataset].values())
    axes.set_ylim(max(low - 0.02, 0), min(1.0, full + 0.02))
    axes.set_xlabel("labels")
    axes.set_ylabel("test accuracy")
    axes.set_title(f"Active learning on {dataset} ({results['setup']['seeds']} seeds, LogisticRegression)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
