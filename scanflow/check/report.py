"""The HTML report of a check: verdict, explanation, ranked features and distribution plots.

One self-contained file (inline CSS and SVG), so it opens anywhere, including
as an MLflow artifact, with nothing fetched from the network.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from scanflow.check.base import CheckResult
from scanflow.check.inputs import category_values, is_numeric, numeric_values
from scanflow.check.optional import import_optional
from scanflow.check.plots import category_svg, histogram_svg

PLOTTED_FEATURES = 6
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:72rem}
.verdict{display:inline-block;padding:.2rem .7rem;border-radius:.3rem;color:#fff;font-weight:600}
.drift{background:#c5221f}.ok{background:#188038}
table{border-collapse:collapse;margin:1rem 0}
td,th{padding:.25rem .7rem;border-bottom:1px solid #ddd;text-align:left}
tr.drifted td{background:#fce8e6}.plots svg{margin:.3rem;border:1px solid #eee}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem}
"""


def render_html(
    result: CheckResult,
    reference: Any = None,
    current: Any = None,
    extra_plots: list[tuple[str, np.ndarray, np.ndarray]] | None = None,
) -> str:
    """The report page. Give the two datasets (DataFrames) to plot the top features."""
    rows = "".join(
        f'<tr class="{"drifted" if f.drifted else ""}"><td>{i}</td><td>{escape(f.feature)}</td>'
        f"<td>{f.statistic:.4g}</td><td>{_p(f.p_value)}</td><td>{'yes' if f.drifted else ''}</td>"
        f"<td>{escape(f.detail)}</td></tr>"
        for i, f in enumerate(result.features, start=1)
    )
    plots = [histogram_svg(np.asarray(r), np.asarray(c), title) for title, r, c in extra_plots or []]
    plots += _feature_plots(result, reference, current)
    legend = (
        '<p class="legend"><span style="background:#8a8f98"></span>reference'
        '<span style="background:#e8710a"></span>batch</p>'
        if plots
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Scanflow check: {escape(result.checker)}</title>
<style>{STYLE}</style></head><body>
<h1>Check <code>{escape(result.checker)}</code>
<span class="verdict {result.verdict}">{result.verdict}</span></h1>
<p>{escape(result.explanation)}</p>
<table><tr><th>rows checked</th><td>{result.n}</td></tr>
<tr><th>score</th><td>{result.score:.4g}</td></tr>
<tr><th>p-value</th><td>{_p(result.p_value)}</td></tr>
<tr><th>threshold</th><td>{"-" if result.threshold is None else f"{result.threshold:.4g}"}</td></tr></table>
{legend}<div class="plots">{"".join(plots)}</div>
<h2>Features, most changed first</h2>
<table><tr><th>#</th><th>feature</th><th>statistic</th><th>p-value</th><th>drifted</th><th>detail</th></tr>
{rows}</table>
</body></html>
"""


def _feature_plots(result: CheckResult, reference: Any, current: Any) -> list[str]:
    pd = import_optional("pandas", "check")
    if not isinstance(reference, pd.DataFrame) or not isinstance(current, pd.DataFrame):
        return []
    plots = []
    for feature in result.features:
        if len(plots) >= PLOTTED_FEATURES:
            break
        name = feature.feature
        if name not in reference.columns or name not in current.columns:
            continue
        if is_numeric(reference[name]):
            plots.append(histogram_svg(numeric_values(reference[name]), numeric_values(current[name]), name))
        else:
            plots.append(category_svg(_shares(reference[name]), _shares(current[name]), name))
    return [p for p in plots if p]


def _shares(series: Any) -> dict[str, float]:
    levels, counts = np.unique(category_values(series).astype(str), return_counts=True)
    return {str(k): float(v) / max(len(series), 1) for k, v in zip(levels, counts, strict=True)}


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
