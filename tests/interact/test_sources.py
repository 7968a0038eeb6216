"""Samples come from dataset files, MLflow artifacts and the prediction log."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import MetaData

from scanflow.database import make_engine
from scanflow.interact.sources import (
    DatasetError,
    DatasetSource,
    PredictionLogSource,
    content_hash,
    open_source,
    prediction_log_table,
    write_dataset,
)

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".parquet"])
def test_dataset_files_round_trip_with_ids_and_labels(tmp_path: Path, suffix: str) -> None:
    features = RNG.normal(size=(6, 3))
    targets = np.array([0, 1, 2, 0, 1, 2])
    path = write_dataset(tmp_path / f"pool{suffix}", features, targets, ids=[f"r{i}" for i in range(6)])
    samples = open_source(path).load()
    assert samples.ids == [f"r{i}" for i in range(6)]
    np.testing.assert_allclose(samples.features, features)
    assert list(samples.targets) == list(targets)


def test_images_keep_their_shape(tmp_path: Path) -> None:
    images = RNG.integers(0, 16, size=(4, 8, 8))
    samples = open_source(write_dataset(tmp_path / "digits.npz", images)).load()
    assert samples.image_shape == (8, 8)
    assert samples.features.shape == (4, 64)


def test_without_an_id_column_samples_are_named_by_their_content(tmp_path: Path) -> None:
    features = RNG.normal(size=(3, 2))
    first = open_source(write_dataset(tmp_path / "a.csv", features)).load()
    reordered = open_source(write_dataset(tmp_path / "b.csv", features[::-1])).load()
    assert first.ids == [content_hash(row) for row in features]
    assert reordered.ids == first.ids[::-1], "a sample keeps its reference when rows move"


def test_identical_rows_without_ids_are_a_clear_error(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "dup.npz", np.zeros((2, 3)))
    with pytest.raises(ValueError, match="appears more than once.*add an id column"):
        open_source(path).load()


def test_a_text_feature_column_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("id,colour,size,label\n1,red,3.0,a\n2,blue,4.0,b\n")
    with pytest.raises(
        DatasetError, match="column 'colour' is not numeric.*Drop the column, or name it 'label'"
    ):
        open_source(tmp_path / "bad.csv").load()


def test_an_npz_without_features_lists_what_it_holds(tmp_path: Path) -> None:
    np.savez(tmp_path / "odd.npz", pixels=np.zeros((2, 2)))
    with pytest.raises(DatasetError, match="store them under one of X, x.*it holds pixels"):
        open_source(tmp_path / "odd.npz").load()


def _text(path: Path) -> None:
    path.write_text("not an archive\n")


def _bare_array(path: Path) -> None:
    with path.open("wb") as file:
        np.save(file, np.zeros((3, 2)))


def _cut_short(path: Path) -> None:
    np.savez(path, X=np.zeros((50, 4)))
    path.write_bytes(path.read_bytes()[:300])


@pytest.mark.parametrize(
    "make, expected",
    [
        (_text, "it is not a NumPy .npz archive"),
        (_bare_array, "it holds a single array, not a .npz archive"),
        (_cut_short, "it is not a NumPy .npz archive"),
    ],
    ids=["text", "bare-array", "cut-short"],
)
def test_a_broken_npz_says_what_it_is_and_how_to_write_one(tmp_path: Path, make, expected: str) -> None:  # noqa: ANN001
    make(tmp_path / "pool.npz")
    with pytest.raises(DatasetError, match=expected) as caught:
        open_source(tmp_path / "pool.npz").load()
    assert "numpy.savez(path, X=features, y=labels)" in str(caught.value)
    assert "pickle" not in str(caught.value), "numpy's advice to load pickles unsafely is not passed on"


def test_not_a_dataset_file_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"give a .npz, .csv, .parquet file"):
        DatasetSource(tmp_path / "model.pkl")


def test_a_tracked_dataset_artifact_loads_through_mlflow(tmp_path: Path, tracking_uri: str) -> None:
    from scanflow.track.store import open_client

    uri = tracking_uri
    client = open_client(uri)
    experiment = client.create_experiment(
        f"data-{tmp_path.name}", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    run = client.create_run(experiment)
    features = RNG.normal(size=(5, 4))
    client.log_artifact(run.info.run_id, str(write_dataset(tmp_path / "pool.npz", features)), "data")

    source = open_source(f"runs:/{run.info.run_id}/data/pool.npz", tracking_uri=uri)
    np.testing.assert_allclose(source.load().features, features)
    assert open_source(source.spec()).load().ids == source.load().ids, "the spec reopens the source"


@pytest.fixture
def prediction_log(database_url: str) -> str:
    """A prediction log with two models' predictions, written as the serving module does."""
    engine = make_engine(database_url)
    table = prediction_log_table(MetaData())
    table.metadata.create_all(engine)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    rows = [
        {
            "id": f"p{i:02d}",
            "created_at": start + datetime.timedelta(minutes=i),
            "model_name": "digits" if i < 4 else "other",
            "model_version": "3",
            "input": [[i, 0], [0, i]],
            "output": {"prediction": i % 2},
            "probabilities": {"0": 0.5 + i / 10, "1": 0.5 - i / 10},
        }
        for i in range(5)
    ]
    with engine.begin() as connection:
        connection.execute(table.insert(), rows)
    engine.dispose()
    return database_url


def test_the_prediction_log_gives_inputs_predictions_and_probabilities(prediction_log: str) -> None:
    samples = open_source(prediction_log, model_name="digits").load()
    assert samples.ids == ["p00", "p01", "p02", "p03"]
    assert samples.image_shape == (2, 2)
    np.testing.assert_allclose(samples.features[3], [3, 0, 0, 3])
    assert samples.predictions == [0, 1, 0, 1]
    assert samples.classes == ["0", "1"]
    np.testing.assert_allclose(samples.probabilities[1], [0.6, 0.4])


def test_the_prediction_log_filters_by_time_and_reopens_from_its_spec(prediction_log: str) -> None:
    source = PredictionLogSource(prediction_log, model_name="digits", since="2026-01-01T00:02:00+00:00")
    assert source.load().ids == ["p02", "p03"]
    assert open_source(json.loads(json.dumps(source.spec()))).load().ids == ["p02", "p03"]


def test_a_limit_takes_the_latest_predictions(prediction_log: str) -> None:
    assert open_source({"kind": "prediction-log", "url": prediction_log, "limit": 3}).load().ids == [
        "p02",
        "p03",
        "p04",
    ]  # recent production data, oldest first


def test_tabular_inputs_keep_their_feature_names(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = make_engine(url)
    table = prediction_log_table(MetaData())
    table.metadata.create_all(engine)
    now = datetime.datetime.now(datetime.UTC)
    with engine.begin() as connection:
        connection.execute(
            table.insert(),
            [
                {"id": "a", "created_at": now, "model_name": "m", "model_version": "1",
                 "input": {"alcohol": 13.2, "ash": 2.1}, "output": 0, "probabilities": None},
                {"id": "b", "created_at": now, "model_name": "m", "model_version": "1",
                 "input": {"alcohol": 12.0, "ash": 2.5}, "output": 1, "probabilities": None},
            ],
        )  # fmt: skip
    samples = open_source(url).load()
    assert samples.feature_names == ["alcohol", "ash"]
    assert samples.probabilities is None, "without logged probabilities a model must provide them"
    np.testing.assert_allclose(samples.features, [[13.2, 2.1], [12.0, 2.5]])


def test_a_missing_prediction_log_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the prediction log.*table 'scanflow_predictions'"):
        open_source(f"sqlite:///{tmp_path / 'empty.db'}").load()
