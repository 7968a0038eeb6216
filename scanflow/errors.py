"""What every package's error messages share: a library's exception reduced to one line."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The first line of what a library's exception says (MLflow's keep it in ``message``).

    The exception's type name when it says nothing, so a reason is never blank.
    """
    return (str(getattr(error, "message", error)).strip().splitlines() or [type(error).__name__])[0]
