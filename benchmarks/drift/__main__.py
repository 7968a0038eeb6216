"""``python -m benchmarks.drift [--quick] [--trials N] [--peers alibi-detect,evidently,frouros]``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress

from benchmarks.drift import ours, peers, protocol, summary

DEFAULT_CACHE = Path(
    os.environ.get("SCANFLOW_BENCH_CACHE", Path.home() / ".cache" / "scanflow-bench" / "drift")
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drift", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="10 trials, sizes 20/100/500 (minutes, not an hour)"
    )
    parser.add_argument("--trials", type=int, default=None, help="trials per cell (default 30)")
    parser.add_argument("--datasets", default="digits,breast_cancer")
    parser.add_argument("--peers", default=",".join(peers.PEERS), help="comma-separated, or 'none'")
    parser.add_argument(
        "--evidently-trials",
        type=int,
        default=None,
        help="fewer trials for evidently, whose full report takes seconds per check",
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="peer environments and results")
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 250)
    trials = args.trials or (10 if args.quick else 30)
    chosen = [] if args.peers == "none" else [peers.PEERS[p] for p in args.peers.split(",")]
    run_folder = args.cache / "runs" / time.strftime("%Y%m%d-%H%M%S")
    run_folder.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]Drift benchmark[/]: {trials} trials per cell; files in {run_folder}")

    pythons = {}
    for peer in chosen:
        try:
            with console.status(f"Preparing the {peer.name} environment…"):
                pythons[peer.name] = peers.environment(peer, args.cache, console.print)
        except RuntimeError as error:
            console.print(f"[yellow]skipping {peer.name}:[/] {error}")

    all_results = {}
    for dataset in args.datasets.split(","):
        sizes = None
        if args.quick:
            sizes = [20, 100, 500] if dataset == "digits" else [20, 50, 200]
        with console.status(f"Drawing the {dataset} trials…"):
            task = protocol.write_tasks(dataset, run_folder, trials, sizes)
        meta = json.loads(task.with_suffix(".json").read_text())
        console.print(f"{dataset}: classifier accuracy on the pool {meta['accuracy']:.3f}")
        running = {
            name: (
                peers.start(
                    peers.PEERS[name],
                    python,
                    task,
                    out := run_folder / f"{dataset}-{name}.json",
                    run_folder / f"{dataset}-{name}.log",
                ),
                out,
            )
            for name, python in pythons.items()
        }
        arrays = np.load(task, allow_pickle=False)
        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task(f"scanflow on {dataset}", total=6 * len(meta["cells"]))
            results = ours.run(meta, arrays, progress=lambda bar=bar: progress.advance(bar))
        with console.status(f"Waiting for the peers on {dataset} ({', '.join(running)})…"):
            for name, (process, out) in running.items():
                if process.wait() != 0 or not out.exists():
                    console.print(f"[yellow]{name} failed on {dataset}: see {out.with_suffix('.log')}[/]")
                    continue
                results.update(json.loads(out.read_text()))
        all_results[dataset] = (meta, results)
        (run_folder / f"{dataset}-results.json").write_text(json.dumps(results, indent=1))
        console.print(summary.rate_table(dataset, meta, results))
        console.print(summary.time_table(dataset, meta, results))

    report = run_folder / "results.md"
    report.write_text(summary.markdown(all_results))
    console.print(f"[dim]Markdown tables in {report}[/]")
    console.print("[bold]Targets[/]")
    for target, met, evidence in summary.targets(all_results):
        console.print(f"  {'[green]met[/]' if met else '[red]missed[/]'}  {target}: {evidence}")


if __name__ == "__main__":
    main()
