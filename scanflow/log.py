"""Logging helpers for code running inside a workflow step.

Inside a step, ``scanflow.log_metric`` and friends append to a small file in the
step's folder; Scanflow uploads it to the step's MLflow run when the step ends.
That keeps MLflow out of steps that only log a few numbers (no import cost, no
database writes from many processes at once) and works in any environment.
Outside a step they log to the active MLflow run, like ``mlflow.log_*``.

This module uses the standard library only: it is importable in any step env.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

NODE_DIR_VARIABLE = "SCANFLOW_NODE_DIR"
TRACKING_FILE = "tracking.jsonl"
ARTIFACTS_DIR = "artifacts"


def _node_dir() -> Path | None:
    value = os.environ.get(NODE_DIR_VARIABLE)
    return Path(value) if value else None


def _mlflow() -> Any:
    """MLflow for logging outside a step: at the project's store, where `scanflow runs` and
    `scanflow tracker up` look, unless the user pointed MLflow elsewhere.

    Left alone, MLflow would start an ``mlflow.db`` of its own in the working directory.
    """
    import mlflow

    if not mlflow.is_tracking_uri_set():
        from scanflow.home import Home
        from scanflow.track.store import prepare_store

        uri = Home.resolve().tracking_uri()
        prepare_store(uri)
        mlflow.set_tracking_uri(uri)
    return mlflow


def _append(record: dict[str, Any]) -> None:
    node_dir = _node_dir()
    assert node_dir is not None
    with open(node_dir / TRACKING_FILE, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record a metric of the current step (or of the active MLflow run outside a step)."""
    if _node_dir() is None:
        _mlflow().log_metric(key, value, step=step)
        return
    _append(
        {
            "type": "metric",
            "key": key,
            "value": float(value),
            "step": step or 0,
            "timestamp": int(time.time() * 1000),
        }
    )


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    for key, value in metrics.items():
        log_metric(key, value, step=step)


def log_param(key: str, value: Any) -> None:
    """Record a parameter of the current step."""
    if _node_dir() is None:
        _mlflow().log_param(key, value)
        return
    _append({"type": "param", "key": key, "value": str(value)})


def log_params(params: dict[str, Any]) -> None:
    for key, value in params.items():
        log_param(key, value)


def set_tag(key: str, value: Any) -> None:
    """Tag the current step's run."""
    if _node_dir() is None:
        _mlflow().set_tag(key, value)
        return
    _append({"type": "tag", "key": key, "value": str(value)})


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    """Attach a file or folder to the current step's run (copied now, uploaded at the end)."""
    node_dir = _node_dir()
    if node_dir is None:
        _mlflow().log_artifact(str(local_path), artifact_path)
        return
    source = Path(local_path)
    if not source.exists():
        raise FileNotFoundError(f"log_artifact: '{source}' does not exist")
    target = node_dir / ARTIFACTS_DIR / (artifact_path or "") / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)


def data_dir() -> Path:
    """The workflow's data directory, where steps exchange files (the working directory)."""
    return Path(os.environ.get("SCANFLOW_DATA_DIR", os.getcwd()))


def read_tracking_records(
    node_dir: Path, offset: int = 0, end: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Complete records a step logged after byte ``offset`` (up to ``end``), and the offset after them.

    A line still being written (no newline yet) is left for the next read.
    """
    path = node_dir / TRACKING_FILE
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read() if end is None else handle.read(max(0, end - offset))
    except OSError:
        return [], offset
    complete = chunk[: chunk.rfind(b"\n") + 1]
    records = []
    for line in complete.decode(errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a killed step
    return records, offset + len(complete)
