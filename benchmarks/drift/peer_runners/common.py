"""Shared by the peer runners, which run inside the peers' own environments (no Scanflow there)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def tasks(path: str):
    """(meta, arrays) of a task file written by benchmarks.drift.protocol."""
    meta = json.loads(Path(path).with_suffix(".json").read_text())
    return meta, np.load(path, allow_pickle=False)


def run_cells(meta, arrays, detectors, out: str) -> None:
    """Run each detector over every cell; write {detector: {cell: {rate, time_ms, trials}}} as JSON.

    A third command-line argument caps the trials per cell, for peers too slow for them all.
    """
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
    results = {}
    for name, (make, prepare) in detectors.items():
        detect = make()
        cells = {}
        for shift, size in meta["cells"]:
            key = f"{shift}/{size}"
            batches = prepare(arrays, key)[:limit]
            hits, times = 0, []
            for batch in batches:
                start = time.perf_counter()
                hits += bool(detect(batch))
                times.append(time.perf_counter() - start)
            cells[key] = {
                "rate": hits / len(batches),
                "time_ms": 1000 * float(np.median(times)),
                "trials": len(batches),
            }
            print(f"{name} {key} {cells[key]['rate']:.2f}", file=sys.stderr, flush=True)
            results[name] = cells
            Path(out).write_text(json.dumps(results))  # partial results survive an interrupted run
    Path(out).write_text(json.dumps(results))
