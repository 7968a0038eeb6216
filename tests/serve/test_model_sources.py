"""Model URIs: registry aliases and versions, runs:/ URIs and folders, loaded in-process."""

from __future__ import annotations

import pytest

from scanflow.serve.errors import ServeSetupError
from scanflow.serve.model import load_model
from scanflow.serve.registry import ModelSource, Registry

from .serving import Store


@pytest.mark.parametrize(
    ("uri", "name", "alias", "version"),
    [
        ("models:/digits@champion", "digits", "champion", None),
        ("models:/digits/2", "digits", None, "2"),
        ("runs:/abc/model", None, None, None),
        ("/srv/models/digits", None, None, None),
    ],
)
def test_uris_are_read_as_registry_names_or_plain_locations(uri, name, alias, version) -> None:
    source = ModelSource.parse(uri)
    assert (source.registered_name, source.alias, source.version) == (name, alias, version)
    assert source.follows_alias == (alias is not None)


def test_an_alias_resolves_to_the_version_it_names(store: Store) -> None:
    ref = Registry(store.tracking_uri).resolve(ModelSource.parse("models:/digits@champion"))
    assert (ref.uri, ref.name, ref.version) == ("models:/digits/1", "digits", "1")


def test_runs_uris_load_with_their_run_as_version_downloaded_folders_keep_theirs(
    store: Store, tmp_path
) -> None:
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    registry = Registry(store.tracking_uri)
    version = MlflowClient(store.tracking_uri, store.tracking_uri).get_model_version("digits", "2")
    from_run = load_model(registry.resolve(ModelSource.parse(f"runs:/{version.run_id}/model")))
    assert from_run.version == f"run-{version.run_id[:8]}" and from_run.run_id == version.run_id
    folder = download_artifacts("models:/digits/2", dst_path=str(tmp_path / "digits-model"))
    from_folder = load_model(registry.resolve(ModelSource.parse(folder)))
    assert (from_folder.name, from_folder.version) == ("digits", "2")  # what MLflow noted it came from
    for model in (from_run, from_folder):
        values = model.spec.prepare(_payload(store)).values
        assert model.predict(values).tolist() == store.expected_v2[:5]


def test_a_missing_alias_names_model_alias_and_store(store: Store) -> None:
    with pytest.raises(ServeSetupError) as raised:
        Registry(store.tracking_uri).resolve(ModelSource.parse("models:/digits@nonesuch"))
    message = str(raised.value)
    assert "alias 'nonesuch' of registered model 'digits'" in message and store.tracking_uri in message


def _payload(store: Store):
    from scanflow.serve.payload import Payload

    return Payload("dataframe_split", {"columns": store.columns, "data": store.x[:5]})


def test_optional_columns_take_nulls_where_their_type_can_hold_them() -> None:
    from mlflow.types import ColSpec, Schema

    from scanflow.serve.errors import BadInput
    from scanflow.serve.payload import Payload
    from scanflow.serve.signature import input_spec

    spec = input_spec(Schema([ColSpec("double", "x"), ColSpec("double", "y", required=False)]))
    frame = spec.prepare(Payload("dataframe_records", [{"x": 1.0}, {"x": 2.0, "y": None}])).values
    assert frame["x"].tolist() == [1.0, 2.0] and frame["y"].isna().all()
    counts = input_spec(Schema([ColSpec("double", "x"), ColSpec("long", "n", required=False)]))
    with pytest.raises(BadInput, match="row 0, column 'n': expected an integer \\(long\\), got null"):
        counts.prepare(Payload("inputs", [[1.0, None]]))


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("digits-model", "is neither a folder here nor a model URI"),
        ("notes.txt", "is a file, not a model folder"),
    ],
)
def test_serving_a_name_that_is_no_folder_says_what_to_give(project, argument: str, expected: str) -> None:
    import subprocess
    import sys

    (project / "notes.txt").write_text("not a model\n")
    result = subprocess.run(
        [sys.executable, "-m", "scanflow.cli", "serve", argument, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert f"'{argument}' {expected}" in message and "models:/NAME@ALIAS" in message
    assert "artifacts" not in message, "MLflow's download error is not what the person needs to read"


def test_serving_on_a_taken_port_says_so_before_loading_anything(project) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "scanflow.cli", "serve", "models:/digits@champion", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert f"port {port} on 127.0.0.1 is taken: choose another with --port" in message
    assert "serving" not in message and "Errno" not in message


def test_a_version_whose_files_are_gone_is_named_as_such(tmp_path) -> None:
    import shutil

    import mlflow
    from sklearn.dummy import DummyClassifier

    from scanflow.deploy.model_source import mlflow_pointed_at
    from scanflow.serve.fetch import fetch

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mlflow_pointed_at(uri):
        experiment = mlflow.create_experiment("gone", artifact_location=(tmp_path / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            model = DummyClassifier().fit([[0], [1]], [0, 1])
            mlflow.sklearn.log_model(model, name="model", registered_model_name="gone", pip_requirements=[])
    shutil.rmtree(tmp_path / "artifacts")  # as a wipe of the run, or a moved bucket, leaves it
    with pytest.raises(ServeSetupError, match="the files of gone/1 are missing from its artifact store"):
        fetch(uri, ["models:/gone/1"], tmp_path / "downloads")
