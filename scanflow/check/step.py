"""A workflow step that checks a dataset against its reference and logs the outcome to MLflow.

    Executor("drift", function="scanflow.check.step:check_dataset",
             parameters={"reference": "ref.csv", "current": "cur.csv", "detector": "ks"},
             env_manager="current")

Logs metrics (``check.drift``, ``check.score``, ``check.p_value``, ``check.n``,
``check.features_drifted`` and one ``check.feature.<name>`` statistic per feature),
the detector as a parameter, the verdict as a tag, and under ``check/`` the
result JSON, a per-feature CSV table and the HTML report. With
``fail_on_drift=True`` the step fails on drift, stopping what depends on it.
"""

from __future__ import annotations

import csv
import re
import tempfile
from pathlib import Path
from typing import Any

import scanflow
from scanflow.check.base import CheckResult
from scanflow.check.dataset import check_files

MAX_FEATURE_METRICS = 200


def check_dataset(
    current: str,
    reference: str | None = None,
    detector: str = "ks",
    options: dict[str, Any] | None = None,
    fail_on_drift: bool = False,
    save_checker: str | None = None,
) -> None:
    """Check ``current`` against ``reference`` (paths in the data directory) and log it all."""
    with tempfile.TemporaryDirectory(prefix="scanflow-check-") as scratch:
        folder = Path(scratch) / "check"
        outcome = check_files(
            current,
            reference,
            detector,
            options,
            json_path=folder / "result.json",
            report_path=folder / "report.html",
            save_checker=save_checker,
        )
        result = outcome.result
        _write_feature_table(result, folder / "features.csv")
        scanflow.log_param("check.detector", str(detector))
        scanflow.set_tag("scanflow.check.verdict", result.verdict)
        scanflow.log_metrics(_metrics(result))
        scanflow.log_artifact(folder)
    print(result.explanation)
    if fail_on_drift and result.drifted:
        raise SystemExit(f"drift detected by '{result.checker}': {result.explanation}")


def _metrics(result: CheckResult) -> dict[str, float]:
    metrics = {
        "check.drift": float(result.drifted),
        "check.score": result.score,
        "check.n": float(result.n),
        "check.features_drifted": float(len(result.drifted_features)),
    }
    if result.p_value is not None:
        metrics["check.p_value"] = result.p_value
    for feature in result.features[:MAX_FEATURE_METRICS]:
        metrics[f"check.feature.{_metric_name(feature.feature)}"] = feature.statistic
    return metrics


def _metric_name(feature: str) -> str:
    """MLflow metric names allow letters, digits, and ``_-./ ``."""
    return re.sub(r"[^\w\-./ ]", "_", feature)


def _write_feature_table(result: CheckResult, path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "feature", "statistic", "p_value", "drifted", "detail"])
        for rank, f in enumerate(result.features, start=1):
            p_value = "" if f.p_value is None else f.p_value
            writer.writerow([rank, f.feature, f.statistic, p_value, f.drifted, f.detail])
