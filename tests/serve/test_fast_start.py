"""Fast start: models are fetched in a child process and plain scikit-learn ones load without MLflow.

Whatever path a model takes, the service must see the same model: the same
input spec, the same answers, the same name and version, and the same errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scanflow.serve.direct import load_estimator
from scanflow.serve.errors import ServeSetupError
from scanflow.serve.fetch import HandedOver, ModelFetch, ReportedByParent
from scanflow.serve.model import _through_mlflow, load_model
from scanflow.serve.registry import ModelSource, Registry
from scanflow.serve.signature import TableInput, input_spec, stored_input_spec

from .serving import Store


@pytest.fixture(scope="module")
def champion(store: Store) -> tuple[ModelFetch, dict]:
    """``digits@champion`` and ``digits-slow@champion`` fetched by the child process."""
    fetch = ModelFetch(store.tracking_uri, ["models:/digits@champion", "models:/digits-slow@champion"])
    fetched = fetch.result()
    assert fetched is not None
    yield fetch, fetched
    fetch.close()


def test_the_child_resolves_aliases_and_downloads_the_versions(champion: tuple[ModelFetch, dict]) -> None:
    fetch, fetched = champion
    digits = fetched["models:/digits@champion"]
    assert (digits.ref.name, digits.ref.version, digits.ref.uri) == ("digits", "1", "models:/digits/1")
    assert digits.ref.run_id
    assert Path(digits.path, "MLmodel").is_file() and Path(digits.path).is_relative_to(fetch.folder)


def test_a_sklearn_model_loads_without_mlflow_and_answers_as_through_mlflow(
    champion: tuple[ModelFetch, dict], store: Store
) -> None:
    digits = champion[1]["models:/digits@champion"]
    direct = load_model(digits.ref, digits.path)
    through = _through_mlflow(digits.ref, digits.path)
    assert direct.spec.describe() == through.spec.describe()
    assert direct.run_id == digits.ref.run_id and direct.version == "1" and direct.inline
    rows = np.asarray(store.x[:20])
    assert direct.predict(rows).tolist() == store.expected_v1[:20]
    assert direct.classes == through.raw.classes_.tolist()

    script = (
        "import sys\n"
        "from scanflow.serve.model import load_model\n"
        "from scanflow.serve.registry import ModelVersionRef\n"
        f"model = load_model(ModelVersionRef('models:/digits/1', 'digits', '1'), {digits.path!r})\n"
        "print(model.spec.describe()['type'], 'mlflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["table", "False"]


def test_other_flavors_and_disallowed_unpickling_go_through_mlflow(
    champion: tuple[ModelFetch, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = champion[1]["models:/digits-slow@champion"]
    assert load_estimator(slow.path) is None  # a Python model from code: MLflow's to load
    assert load_model(slow.ref, slow.path).version == "1"

    digits = champion[1]["models:/digits@champion"]
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    assert load_estimator(digits.path) is None
    with pytest.raises(ServeSetupError, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION"):
        load_model(digits.ref, digits.path)


def test_a_missing_alias_fails_with_the_registrys_own_message(store: Store) -> None:
    fetch = ModelFetch(store.tracking_uri, ["models:/digits@nobody"])
    with pytest.raises(ServeSetupError) as raised:
        fetch.result()
    fetch.close()
    with pytest.raises(ServeSetupError) as in_process:
        Registry(store.tracking_uri).resolve(ModelSource.parse("models:/digits@nobody"))
    assert str(raised.value) == str(in_process.value)
    assert "alias 'nobody'" in str(raised.value)


def test_a_child_that_dies_leaves_the_loading_to_the_service(store: Store) -> None:
    fetch = ModelFetch(store.tracking_uri, ["models:/digits@champion"])
    fetch._process.kill()  # failure injection: the child is gone before it answers
    assert fetch.result() is None
    fetch.close()
    assert not fetch.folder.exists()


def test_stored_signatures_read_like_mlflows_schema() -> None:
    from mlflow.types.schema import ColSpec, Schema, TensorSpec

    columns = Schema(
        [
            ColSpec("double", "a"),
            ColSpec("long", "b"),
            ColSpec("string", "c", required=False),
            ColSpec("boolean", "d"),
            ColSpec("float", "e"),
            ColSpec("integer", "f"),
        ]
    )
    tensor = Schema([TensorSpec(np.dtype("float32"), (-1, 8, 8))])
    for schema in (columns, tensor):
        stored = stored_input_spec(json.loads(schema.to_json()))
        assert stored is not None and stored.describe() == input_spec(schema).describe()
    assert isinstance(stored_input_spec(json.loads(columns.to_json())), TableInput)

    from mlflow.types.schema import Array

    nested = Schema([ColSpec(Array("double"), "values")])
    assert stored_input_spec(json.loads(nested.to_json())) is None  # left to MLflow


def test_workers_receive_the_parents_fetch_or_its_error(store: Store, tmp_path: Path) -> None:
    fetch = ModelFetch(store.tracking_uri, ["models:/digits@champion"])
    worker = HandedOver(tmp_path / "fetched.json")
    assert HandedOver.hand_over(fetch, worker.path) is None
    received = worker.result()["models:/digits@champion"]
    assert received.ref == Registry(store.tracking_uri).resolve(ModelSource.parse("models:/digits@champion"))
    assert Path(received.path, "MLmodel").is_file()
    fetch.close()

    failing = ModelFetch(store.tracking_uri, ["models:/digits@nobody"])
    error = HandedOver.hand_over(failing, tmp_path / "failed.json")
    failing.close()
    assert error is not None and "alias 'nobody'" in error
    with pytest.raises(ReportedByParent, match="alias 'nobody'"):
        HandedOver(tmp_path / "failed.json").result()


def test_a_worker_stops_waiting_when_its_parent_is_gone(tmp_path: Path) -> None:
    worker = HandedOver(tmp_path / "never-written.json")
    worker._parent = -1  # failure injection: as if the parent had died and the worker were adopted
    with pytest.raises(ServeSetupError, match="stopped before its models were fetched"):
        worker.result()
