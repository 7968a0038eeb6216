"""Reading the text files people write (workflows, rule files, requirements), with one error for binary ones.

Python's own error names a codec and a byte position but not the file; a
person needs to know which file, and that it must be saved as UTF-8 text.
"""

from __future__ import annotations

from pathlib import Path


class NotText(ValueError):
    """A file that should hold text does not decode as UTF-8; the message names it."""


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of ``path``; ``what`` names the file's role in the error ("workflow file")."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        byte = error.object[error.start]
        raise NotText(
            f"{what} {path} is not UTF-8 text (byte {error.start} is 0x{byte:02x}): save it as UTF-8 text"
        ) from None
