"""Helpers to run workflows quietly in tests."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from scanflow import Workflow
from scanflow.run.result import RunResult
from scanflow.run.runner import resume_run, run_workflow


def quiet_console() -> Console:
    return Console(file=io.StringIO(), width=200)


def run(workflow: Workflow | str | Path, **options: Any) -> RunResult:
    options.setdefault("track", False)
    options.setdefault("console", quiet_console())
    options.setdefault("live", False)
    return run_workflow(workflow, **options)


def resume(run_id: str, **options: Any) -> RunResult:
    options.setdefault("track", False)
    options.setdefault("console", quiet_console())
    options.setdefault("live", False)
    return resume_run(run_id, **options)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    current = best = 0
    for _, change in events:
        current += change
        best = max(best, current)
    return best
