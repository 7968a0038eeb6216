"""Fixtures of the serving tests: a real MLflow registry with tiny digits models, real servers.

The registry is built once per session: two versions of a logistic regression
on scikit-learn's bundled digits (``digits`` 1 and 2, alias ``champion`` on 1)
and a slow model from code (``digits-slow``). Servers are real ``scanflow
serve`` processes on free loopback ports, stopped at the end of the session.
"""

from __future__ import annotations

import pytest

from .serving import HERE, Server, Store


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    import mlflow
    from digits_models import register_digits_models
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("digits", artifact_location=(root / "artifacts").as_uri())
    x, y, models, signature = register_digits_models(experiment, ["scikit-learn"])
    with mlflow.start_run(experiment_id=experiment):
        mlflow.pyfunc.log_model(
            name="model",
            python_model=str(HERE / "slow_model.py"),
            signature=signature,
            input_example=x.head(2),
            registered_model_name="digits-slow",
            pip_requirements=["mlflow"],
        )
    MlflowClient(uri, uri).set_registered_model_alias("digits-slow", "champion", "1")
    predictions = [m.predict(x).tolist() for m in models]
    assert predictions[0] != predictions[1], "the two versions must answer differently"
    return Store(uri, root, list(x.columns), x.values.tolist(), y.tolist(), *predictions)


@pytest.fixture(scope="session")
def start_server(store: Store, tmp_path_factory: pytest.TempPathFactory):
    """Start servers (ready before returned); every one is stopped at the end of the session."""
    started: list[Server] = []

    def start(*args: str, token: str | None = None, wait: bool = True) -> Server:
        server = Server(list(args), store, tmp_path_factory.mktemp("server"), token)
        started.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()
