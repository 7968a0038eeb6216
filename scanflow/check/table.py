"""A check result as a Rich table, for the terminal."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from scanflow.check.base import CheckResult

SHOWN_FEATURES = 15


def result_table(result: CheckResult) -> Table:
    colour = "red" if result.drifted else "green"
    p = "-" if result.p_value is None else f"{result.p_value:.3g}"
    summary = f"n={result.n}, score={result.score:.4g}, p={p}"
    table = Table(
        title=f"{result.checker}: [bold {colour}]{result.verdict}[/]  ({summary})",
        caption=result.explanation,
        caption_justify="left",
    )
    for column in ("#", "feature", "statistic", "p-value", "drifted", "detail"):
        table.add_column(column, overflow="fold")
    for rank, f in enumerate(result.features[:SHOWN_FEATURES], start=1):
        table.add_row(
            str(rank),
            Text(str(f.feature)),
            f"{f.statistic:.4g}",
            "-" if f.p_value is None else f"{f.p_value:.3g}",
            "[red]yes[/]" if f.drifted else "",
            Text(f.detail),
            style="bold" if f.drifted else None,
        )
    hidden = len(result.features) - SHOWN_FEATURES
    if hidden > 0:
        table.add_row("", f"[dim]… {hidden} more in the JSON and HTML report[/]", "", "", "", "")
    return table
