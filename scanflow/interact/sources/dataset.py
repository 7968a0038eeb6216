"""Dataset files as sample sources: ``.npz``, ``.csv``, ``.parquet``, local or in MLflow.

An MLflow artifact URI (``runs:/<run>/data/pool.npz``, ``mlflow-artifacts:/...``,
``models:/...``) is downloaded through MLflow on each load, so a queue built on
a tracked dataset artifact reopens anywhere the tracker is reachable.

Layout the readers expect:

* ``.npz``: features under ``X`` (or ``x``, ``features``, ``images``), optional
  labels under ``y`` (or ``labels``, ``targets``), optional ``ids``. Features of
  shape ``(n, h, w)`` are images.
* ``.csv``/``.parquet``: one row per sample; an ``id`` column (optional), a
  ``label`` column (optional), every other column a numeric feature.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from scanflow.extras import require
from scanflow.interact.sources.base import Samples, SampleSource, content_hash
from scanflow.npz import NotNumpyFile, open_npz

FEATURE_KEYS = ("X", "x", "features", "images", "data")
TARGET_KEYS = ("y", "labels", "targets", "target", "label")
ID_KEY = "ids"
SUFFIXES = (".npz", ".csv", ".parquet")
MLFLOW_SCHEMES = ("runs:/", "models:/", "mlflow-artifacts:/", "s3://", "gs://", "wasbs://", "hdfs://")


class DatasetError(ValueError):
    """A dataset file cannot be read as samples."""


class DatasetSource(SampleSource):
    """Samples from a dataset file or an MLflow artifact URI."""

    kind: ClassVar[str] = "dataset"

    def __init__(
        self,
        uri: str | Path,
        *,
        label_column: str = "label",
        id_column: str = "id",
        tracking_uri: str | None = None,
    ):
        self.uri = str(uri)
        self.label_column = label_column
        self.id_column = id_column
        self.tracking_uri = tracking_uri
        if not self.is_remote and not self.uri.startswith("file://"):
            self.uri = str(Path(self.uri).expanduser().resolve())
        if not self.uri.endswith(SUFFIXES):
            raise DatasetError(f"'{uri}' is not a dataset file: give a {', '.join(SUFFIXES)} file")

    @property
    def is_remote(self) -> bool:
        return self.uri.startswith(MLFLOW_SCHEMES)

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": self.kind, "uri": self.uri}
        if self.label_column != "label":
            spec["label_column"] = self.label_column
        if self.id_column != "id":
            spec["id_column"] = self.id_column
        if self.tracking_uri:
            spec["tracking_uri"] = self.tracking_uri
        return spec

    def describe(self) -> str:
        return self.uri

    def load(self) -> Samples:
        if not self.is_remote:
            return read_dataset(Path(self.uri.removeprefix("file://")), self.label_column, self.id_column)
        from scanflow.track.store import quiet_mlflow

        quiet_mlflow()
        import mlflow.artifacts

        with tempfile.TemporaryDirectory(prefix="scanflow-dataset-") as folder:
            try:
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=self.uri, dst_path=folder, tracking_uri=self.tracking_uri
                )
            except Exception as error:
                raise DatasetError(f"cannot download the dataset artifact {self.uri}: {error}") from None
            return read_dataset(Path(local), self.label_column, self.id_column)


def read_dataset(path: Path, label_column: str = "label", id_column: str = "id") -> Samples:
    """Read a ``.npz``, ``.csv`` or ``.parquet`` file as samples."""
    if not path.is_file():
        raise DatasetError(f"dataset file {path} does not exist")
    if path.suffix not in SUFFIXES:
        raise DatasetError(f"cannot read {path}: datasets are {', '.join(SUFFIXES)} files")
    if path.suffix == ".npz":
        return _read_npz(path)
    pyarrow = require("pyarrow", "interact", f"reading {path.suffix} datasets")
    try:
        if path.suffix == ".csv":
            table = require("pyarrow.csv", "interact", "reading CSV datasets").read_csv(path)
        else:
            table = require("pyarrow.parquet", "interact", "reading Parquet datasets").read_table(path)
    except pyarrow.ArrowException as error:
        raise DatasetError(f"cannot read {path}: {error}") from None
    columns = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    return _from_columns(columns, path, label_column, id_column)


def _first(keys: tuple[str, ...], available: list[str]) -> str | None:
    return next((k for k in keys if k in available), None)


def _open_npz(path: Path) -> Any:
    try:
        return open_npz(path)
    except NotNumpyFile as error:
        raise DatasetError(f"cannot read {path}: {error}") from None


def _read_npz(path: Path) -> Samples:
    with _open_npz(path) as data:
        keys = list(data.keys())
        feature_key = _first(FEATURE_KEYS, keys)
        if feature_key is None:
            raise DatasetError(
                f"{path} has no features: store them under one of {', '.join(FEATURE_KEYS)}"
                f" (it holds {', '.join(keys) or 'nothing'})"
            )
        features = np.asarray(data[feature_key])
        if features.dtype.kind not in "biuf":
            raise DatasetError(f"{path}: '{feature_key}' must be numeric, it is {features.dtype}")
        target_key = _first(TARGET_KEYS, keys)
        targets = np.asarray(data[target_key]) if target_key else None
        ids = [str(i) for i in data[ID_KEY]] if ID_KEY in keys else None
        names = [str(n) for n in data["feature_names"]] if "feature_names" in keys else None
    if targets is not None and len(targets) != len(features):
        raise DatasetError(f"{path}: {len(features)} samples but {len(targets)} labels under '{target_key}'")
    flat = features.reshape(len(features), -1)
    return Samples(
        ids=ids if ids is not None else [content_hash(row) for row in flat],
        features=features,
        targets=targets,
        feature_names=names,
    )


def _from_columns(columns: dict[str, np.ndarray], path: Path, label_column: str, id_column: str) -> Samples:
    ids = [str(v) for v in columns.pop(id_column)] if id_column in columns else None
    targets = columns.pop(label_column, None)
    if not columns:
        raise DatasetError(f"{path} has no feature columns besides '{id_column}' and '{label_column}'")
    for name, values in columns.items():
        if values.dtype.kind not in "biuf":
            raise DatasetError(
                f"{path}: column '{name}' is not numeric ({values.dtype}); features must be numbers."
                f" Drop the column, or name it '{label_column}' if it holds the labels or '{id_column}'"
                " if it names the samples (in Python: label_column=, id_column=)"
            )
    features = np.column_stack([values.astype(float) for values in columns.values()])
    return Samples(
        ids=ids if ids is not None else [content_hash(row) for row in features],
        features=features,
        targets=targets,
        feature_names=list(columns),
    )


def write_dataset(
    path: str | Path,
    features: np.ndarray,
    targets: np.ndarray | None = None,
    ids: list[str] | None = None,
    feature_names: list[str] | None = None,
) -> Path:
    """Write samples as a dataset file the readers above load back (``.npz``, ``.csv``, ``.parquet``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    features = np.asarray(features)
    if path.suffix == ".npz":
        arrays: dict[str, Any] = {"X": features}
        if targets is not None:
            arrays["y"] = np.asarray(targets)
        if ids is not None:
            arrays[ID_KEY] = np.asarray(ids, dtype=str)
        if feature_names is not None:
            arrays["feature_names"] = np.asarray(feature_names, dtype=str)
        np.savez_compressed(path, **arrays)
        return path
    if path.suffix not in SUFFIXES:
        raise DatasetError(f"cannot write '{path.name}': give a {', '.join(SUFFIXES)} file name")
    pyarrow = require("pyarrow", "interact", f"writing {path.suffix} datasets")
    flat = features.reshape(len(features), -1)
    names = feature_names or [f"x{i}" for i in range(flat.shape[1])]
    columns: dict[str, Any] = {}
    if ids is not None:
        columns["id"] = list(ids)
    columns.update({name: flat[:, i] for i, name in enumerate(names)})
    if targets is not None:
        columns["label"] = np.asarray(targets)
    table = pyarrow.table(columns)
    if path.suffix == ".csv":
        require("pyarrow.csv", "interact", "writing CSV datasets").write_csv(table, path)
    else:
        require("pyarrow.parquet", "interact", "writing Parquet datasets").write_table(table, path)
    return path
