"""Parsing of the human quantities a spec may hold: memory sizes and durations.

Specs keep the text the user wrote (so YAML round-trips exactly); these
functions turn it into numbers when the runner needs them.
"""

from __future__ import annotations

import re

_MEMORY_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
}
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")


def parse_memory(value: str | int | float) -> int:
    """Bytes in a memory size such as ``"2Gi"``, ``"512Mi"``, ``"1.5GB"`` or ``1024``.

    Raises ValueError naming the accepted units when the text is not a size.
    """
    if isinstance(value, bool):
        raise ValueError(f"memory must be a size like '2Gi' or '512Mi', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"memory cannot be negative, got {value!r}")
        return int(value)
    match = _MEMORY_RE.match(str(value))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _MEMORY_UNITS:
        raise ValueError(
            f"memory must be a size like '2Gi', '512Mi' or '1G' (units: Ki, Mi, Gi, Ti, K, M, G, T),"
            f" got {value!r}"
        )
    return int(float(match.group(1)) * _MEMORY_UNITS[unit])


def parse_duration(value: str | int | float) -> float:
    """Seconds in a duration such as ``90``, ``"30s"``, ``"5m"`` or ``"1h30m"``."""
    if isinstance(value, bool):
        raise ValueError(f"a duration must be seconds or text like '30s', got {value!r}")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"a duration must be positive, got {value!r}")
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    try:
        seconds = float(text)
    except ValueError:
        pieces = _DURATION_RE.findall(text)
        if not pieces or "".join(n + u for n, u in pieces) != text:
            raise ValueError(
                f"a duration must be seconds or text like '30s', '5m', '1h30m', got {value!r}"
            ) from None
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in pieces)
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


def format_bytes(size: int) -> str:
    """A short binary size for messages: ``2.0Gi``."""
    amount = float(size)
    for unit in ("", "Ki", "Mi", "Gi", "Ti"):
        if amount < 1024 or unit == "Ti":
            return f"{amount:.1f}{unit}" if unit else f"{int(amount)}B"
        amount /= 1024
    return f"{amount:.1f}Ti"
