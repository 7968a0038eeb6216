"""Checking one dataset file against another: what ``scanflow check`` and workflow steps share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanflow.check.base import Checker, CheckerError, CheckResult
from scanflow.check.files import read_dataset
from scanflow.check.registry import load_checker
from scanflow.check.report import render_html


@dataclass
class FileCheck:
    result: CheckResult
    checker: Checker
    json_path: Path | None
    report_path: Path | None


def check_files(
    current: str | Path,
    reference: str | Path | None = None,
    detector: str | Path = "ks",
    options: dict[str, Any] | None = None,
    json_path: str | Path | None = None,
    report_path: str | Path | None = None,
    save_checker: str | Path | None = None,
) -> FileCheck:
    """Fit ``detector`` on ``reference`` (or load a saved, fitted one) and check ``current``.

    Writes the result as JSON and an HTML report when paths are given, and the
    fitted checker to ``save_checker`` for reuse in production.
    """
    checker = load_checker(detector, **(options or {}))
    reference_data = read_dataset(reference) if reference is not None else None
    if not checker.fitted:
        if reference_data is None:
            raise CheckerError(
                f"checker {str(detector)!r} is not fitted:"
                " give a reference dataset, or a saved checker folder"
            )
        checker.fit(reference_data)
    current_data = read_dataset(current)
    result = checker.check(current_data)
    written_json = written_report = None
    if json_path is not None:
        written_json = Path(json_path)
        written_json.parent.mkdir(parents=True, exist_ok=True)
        written_json.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    if report_path is not None:
        written_report = Path(report_path)
        written_report.parent.mkdir(parents=True, exist_ok=True)
        plots = _error_plots(checker, current_data)
        written_report.write_text(render_html(result, reference_data, current_data, plots))
    if save_checker is not None:
        checker.save(save_checker)
    return FileCheck(result, checker, written_json, written_report)


def _error_plots(checker: Checker, current: Any) -> list[tuple[str, Any, Any]]:
    """The autoencoder's reconstruction errors, reference against batch."""
    errors = getattr(checker, "reconstruction_error", None)
    if errors is None:
        return []
    return [("reconstruction error", checker.reference_errors, errors(current))]  # type: ignore[attr-defined]
