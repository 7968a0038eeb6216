"""Reading NumPy files, with errors that say what a file is instead of numpy's advice.

numpy answers a file that is not one of its own with advice to unpickle it
("if you trust the file..."), which would run whatever it holds. Every reader
of ``.npy``/``.npz`` files goes through here and says what to write instead.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

HOW_TO_WRITE = {
    ".npz": "write one with numpy.savez(path, X=features, y=labels)",
    ".npy": "write one with numpy.save(path, array)",
}


class NotNumpyFile(ValueError):
    """A file named ``.npy``/``.npz`` that is not one; the message says what it is and what to write."""


def open_npz(path: Path) -> Any:
    """The ``.npz`` archive at ``path`` (a numpy NpzFile, to use in ``with``)."""
    import numpy as np

    data = _load(path, "a NumPy .npz archive", ".npz")
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise NotNumpyFile(f"it holds a single array, not a .npz archive; {HOW_TO_WRITE['.npz']}")
    return data


def load_npy(path: Path) -> Any:
    """The array in the ``.npy`` file at ``path``."""
    import numpy as np

    data = _load(path, "a NumPy .npy array", ".npy")
    if isinstance(data, np.lib.npyio.NpzFile):
        data.close()
        raise NotNumpyFile("it is a .npz archive, not a single array: name it .npz")
    return data


def _load(path: Path, kind: str, suffix: str) -> Any:
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        raise NotNumpyFile(f"it is not {kind} (or it is cut short); {HOW_TO_WRITE[suffix]}") from None
