"""Small pieces of the human sentences that explain verdicts."""

from __future__ import annotations

from collections.abc import Sequence

from scanflow.check.base import FeatureDrift


def p_text(p_value: float | None) -> str:
    """``p=0.003``, or ``p<0.0001`` for tiny values."""
    if p_value is None:
        return "p=-"
    return f"p={p_value:.2g}" if p_value >= 1e-4 else "p<0.0001"


def feature_list(features: Sequence[FeatureDrift], limit: int = 3) -> str:
    """``'a' (p<0.0001), 'b' (p=0.003) and 2 more``: the most changed features first."""
    shown = [f"'{f.feature}'" + ("" if f.p_value is None else f" ({p_text(f.p_value)})") for f in features]
    shown = shown[:limit]
    rest = len(features) - limit
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")
