"""Following a file another process appends to (a step's log, a server's output), as ``tail -f`` does."""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable
from pathlib import Path

CHUNK = 1 << 20  # bytes of a log read at once: a log may be larger than memory


def follow(
    path: Path,
    still_writing: Callable[[], bool],
    write: Callable[[str], None],
    poll_s: float = 0.3,
    start: int = 0,
) -> None:
    """Write ``path`` from byte ``start``, then what is added to it until ``still_writing()`` is false.

    Bytes are decoded as a stream, so a character split between two reads is written whole.
    With ``still_writing`` false from the start, this writes the file once, as ``cat`` does.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offset = start
    while True:
        writing = still_writing()  # asked first: what the step wrote before ending is read below
        if path.is_file():
            with path.open("rb") as handle:
                handle.seek(offset)
                while chunk := handle.read(CHUNK):
                    offset += len(chunk)
                    if text := decoder.decode(chunk):
                        write(text)
        if not writing:
            write(decoder.decode(b"", final=True))
            return
        time.sleep(poll_s)
