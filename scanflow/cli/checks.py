"""`scanflow check`: drift and integrity checks of a dataset, with an exit code for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from scanflow.cli.common import console, fail


def check(
    current: Annotated[
        Path, typer.Option("--current", "-c", help="dataset to check: .csv, .parquet, .json, .npy, .npz...")
    ],
    reference: Annotated[
        Path | None, typer.Option("--reference", "-r", help="dataset the detector learns from")
    ] = None,
    detector: Annotated[
        str,
        typer.Option(
            "--detector",
            "-d",
            help="ks, cvm, mmd, label_shift, integrity, autoencoder, a plugin, pkg.mod:Class,"
            " or a saved checker folder",
        ),
    ] = "ks",
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="detector option KEY=VALUE (repeatable)")
    ] = None,
    json_path: Annotated[Path, typer.Option("--json", help="where to write the result")] = Path(
        "scanflow-check.json"
    ),
    report: Annotated[Path, typer.Option("--report", help="where to write the HTML report")] = Path(
        "scanflow-check.html"
    ),
    save_checker: Annotated[
        Path | None, typer.Option("--save-checker", help="save the fitted checker to this folder")
    ] = None,
) -> None:
    """Check a dataset for drift or integrity problems. Exit code 1 on drift, to gate CI pipelines."""
    import yaml

    from scanflow.check.base import CheckerError
    from scanflow.check.dataset import check_files
    from scanflow.check.table import result_table

    options = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"--option takes KEY=VALUE, got {item!r}")
        options[key.strip()] = yaml.safe_load(value)
    try:
        with console.status(f"checking {escape(str(current))} with {escape(str(detector))}…"):
            outcome = check_files(current, reference, detector, options, json_path, report, save_checker)
    except (CheckerError, ImportError) as error:
        raise fail(str(error)) from None
    console.print(result_table(outcome.result))
    console.print(f"[dim]wrote {escape(str(json_path))} and {escape(str(report))}[/]")
    if outcome.result.drifted:
        raise typer.Exit(1)
