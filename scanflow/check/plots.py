"""Small inline SVG charts for the HTML report: no plotting library, no network, no files.

Reference in grey, batch in orange, on shared axes so the eye compares shapes.
"""

from __future__ import annotations

from html import escape

import numpy as np

WIDTH, HEIGHT, PAD = 320, 150, 24
REFERENCE_COLOUR, BATCH_COLOUR = "#8a8f98", "#e8710a"


def histogram_svg(reference: np.ndarray, batch: np.ndarray, title: str, bins: int = 20) -> str:
    """Overlaid density histograms of two numeric samples."""
    reference = reference[np.isfinite(reference)]
    batch = batch[np.isfinite(batch)]
    both = np.concatenate([reference, batch])
    if both.size == 0:
        return ""
    low, high = float(both.min()), float(both.max())
    edges = np.linspace(low, high if high > low else low + 1, bins + 1)
    shares = [np.histogram(s, edges)[0] / max(len(s), 1) for s in (reference, batch)]
    return _bars(title, [f"{e:.3g}" for e in edges[[0, -1]]], shares)


def category_svg(reference: dict[str, float], batch: dict[str, float], title: str, limit: int = 12) -> str:
    """Side-by-side shares of the most common levels of a categorical feature."""
    levels = sorted(set(reference) | set(batch), key=lambda k: -(reference.get(k, 0) + batch.get(k, 0)))
    levels = levels[:limit]
    shares = [np.array([source.get(k, 0.0) for k in levels]) for source in (reference, batch)]
    labels = [levels[0], levels[-1]] if levels else ["", ""]
    return _bars(title, labels, shares)


def _bars(title: str, axis_labels: list[str], shares: list[np.ndarray]) -> str:
    top = max(float(max(s.max() for s in shares)), 1e-12)
    count = len(shares[0])
    slot = (WIDTH - 2 * PAD) / max(count, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{PAD}" y="14" font-size="12" font-family="sans-serif">{escape(title)}</text>',
    ]
    for series, (colour, offset) in enumerate(((REFERENCE_COLOUR, 0.0), (BATCH_COLOUR, 0.5))):
        for i, share in enumerate(shares[series]):
            height = (HEIGHT - 2 * PAD) * float(share) / top
            x = PAD + i * slot + offset * slot
            y = HEIGHT - PAD - height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot / 2:.1f}" height="{height:.1f}"'
                f' fill="{colour}" opacity="0.85"/>'
            )
    for x, anchor, label in ((PAD, "start", axis_labels[0]), (WIDTH - PAD, "end", axis_labels[1])):
        parts.append(
            f'<text x="{x}" y="{HEIGHT - 6}" font-size="10" font-family="sans-serif"'
            f' text-anchor="{anchor}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
