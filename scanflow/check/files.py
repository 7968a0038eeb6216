"""Reading the datasets that the CLI and workflow steps check: CSV, Parquet, JSON, NumPy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scanflow.check.base import CheckerError
from scanflow.check.optional import import_optional
from scanflow.npz import load_npy, open_npz

SUFFIXES = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".npy", ".npz")


def read_dataset(path: str | Path) -> Any:
    """A DataFrame (tables) or an array (``.npy``/``.npz``, e.g. images) from ``path``."""
    pd = import_optional("pandas", "check")
    import_optional("numpy", "check")  # says which extra brings numpy when it is missing
    path = Path(path)
    if not path.is_file():
        raise CheckerError(f"dataset '{path}' does not exist (looked in {Path.cwd()})")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            return _read_table(pd, path, "\t" if suffix == ".tsv" else ",")
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".json", ".jsonl"):
            return pd.read_json(path, lines=suffix == ".jsonl")
        if suffix == ".npy":
            return load_npy(path)
        if suffix == ".npz":
            with open_npz(path) as arrays:
                names = [n for n in ("x", "X", "data") if n in arrays.files] or arrays.files[:1]
                if not names:
                    raise CheckerError(f"'{path}' holds no arrays")
                return arrays[names[0]]
    except ImportError as error:
        raise CheckerError(f"cannot read '{path}': {error}") from None
    except (ValueError, OSError) as error:
        raise CheckerError(f"cannot read '{path}' as {suffix[1:]}: {error}") from None
    raise CheckerError(f"cannot read '{path}': use one of {', '.join(SUFFIXES)}")


def _read_table(pd: Any, path: Path, separator: str) -> Any:
    """A delimited file; one with another separator (``;`` where commas are decimal points, ``|``)
    is read with the separator its header uses, not as one column named by the whole header."""
    frame = pd.read_csv(path, sep=separator)
    header = str(frame.columns[0]) if frame.shape[1] == 1 else ""
    found = [s for s in (";", "|", "\t", ",") if s != separator and s in header]
    if not found:
        return frame
    if found[0] != ";":
        return pd.read_csv(path, sep=found[0])
    # ";" usually means commas are decimal points, but not always: keep the reading with more numbers.
    readings = [pd.read_csv(path, sep=";", decimal=decimal) for decimal in (",", ".")]
    return max(readings, key=lambda table: len(table.select_dtypes("number").columns))
