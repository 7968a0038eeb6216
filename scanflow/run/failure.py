"""What a failed step's log says went wrong.

A step that dies of a Python exception ends its log with a traceback whose
last line names the error (``ValueError: the input has no rows``); one that
stops on purpose often ends it with ``error: ...``. Either line says more
than "exit code 1", so it joins the reason a run's summary, ``RunFailed``
and the step's MLflow tags give.
"""

from __future__ import annotations

import re
from pathlib import Path

FAILURE_TAIL = 20  # log lines shown under a failed step
REASON_LIMIT = 200  # characters of an error line kept in a reason
TRACEBACK_LINES = 400  # lines searched for the traceback the error line ends
_WINDOW = 1 << 18  # bytes read from the end of a log: some thousands of lines
_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Failure|Warning)\b(: .*)?$")


def tail_lines(path: str | Path | None, count: int = FAILURE_TAIL, start: int = 0) -> list[str]:
    """The last ``count`` lines of a text file from byte ``start`` on (empty when it does not exist).

    Only the file's last ``_WINDOW`` bytes are read: a step's log may be gigabytes.
    """
    if path is None:
        return []
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            begin = max(start, size - _WINDOW)
            handle.seek(begin)
            lines = handle.read().split(b"\n")
    except OSError:
        return []
    if begin > start:
        lines = lines[1:]  # most likely a line cut where the window starts
    if lines and not lines[-1]:
        lines.pop()  # the text after the last newline: nothing
    return [line.decode(errors="replace").rstrip("\r") for line in lines[-count:]]


def python_error(lines: list[str]) -> str | None:
    """The exception line of the last traceback in ``lines``, if they end with one."""
    text = [line for line in lines if line.strip()]
    if not text or not any(line.startswith("Traceback (most recent call last)") for line in text):
        return None
    last = text[-1].strip()
    return _clipped(last) if _ERROR_LINE.match(last) else None


def stated_error(lines: list[str]) -> str | None:
    """The message of a log that ends with ``error: ...``: what ``sys.exit("error: ...")`` leaves.

    Function steps that fail on purpose end so (the worker prints the
    ``SystemExit`` message), as do scripts and tools that say why they stop.
    """
    text = [line.strip() for line in lines if line.strip()]
    if not text or not text[-1].lower().startswith("error: "):
        return None
    return _clipped(text[-1][len("error: ") :].strip())


def _clipped(line: str) -> str:
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 1] + "…"


def failure_reason(described: str, log_path: str | Path | None, start: int = 0) -> str:
    """``described`` (how the attempt ended), with the error its log ends with."""
    lines = tail_lines(log_path, count=TRACEBACK_LINES, start=start)
    error = python_error(lines) or stated_error(lines)
    return f"{described}: {error}" if error else described
