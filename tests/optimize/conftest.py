"""A real MLflow registry with the models the optimisation tests convert.

Built once per session, through the MLflow client (the process-wide tracking
URI is restored, so other tests' stores are untouched):

- ``digits``: a logistic regression on scikit-learn's digits, as a table
  (named columns), ``champion`` on version 1;
- ``forest``: a random forest on the same digits, as an array;
- ``net``: a small PyTorch network on the digits (MLflow saves it as a
  ``torch.export`` graph);
- ``rounding``: a classifier whose features differ only past float32's
  precision, so its ONNX conversion cannot agree with it;
- ``ridge``: a regression on the digits' labels, as numbers.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


@dataclass(frozen=True)
class Registry:
    tracking_uri: str
    root: Path
    test_npz: Path  # digits rows the models did not learn from (X, y)
    rounding_npz: Path  # rows of the rounding model


@contextlib.contextmanager
def tracking_at(uri: str) -> Iterator[None]:
    import mlflow

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    import mlflow
    import mlflow.pytorch
    import mlflow.sklearn
    import torch
    from mlflow import MlflowClient
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    root = tmp_path_factory.mktemp("optimize-registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    frame, y = load_digits(return_X_y=True, as_frame=True)
    frame = frame.astype("float64")
    x = frame.to_numpy()
    train, test = slice(0, 1400), slice(1400, None)
    np.savez(root / "test.npz", X=x[test], y=y.to_numpy()[test])

    rng = np.random.default_rng(0)
    noise = rng.normal(size=(400, 2))
    rounding_x = 1e8 + noise  # float32 cannot tell these rows apart (its step at 1e8 is 8)
    rounding_y = (noise[:, 0] > 0).astype(int)
    np.savez(root / "rounding.npz", X=rounding_x, y=rounding_y)

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.Adam(net.parameters(), 1e-2)
    features, labels = torch.tensor(x[train] / 16, dtype=torch.float32), torch.tensor(y.to_numpy()[train])
    for _ in range(60):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(features), labels).backward()
        optimizer.step()

    with tracking_at(uri), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")  # the labels
        experiment = mlflow.create_experiment("digits", artifact_location=(root / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            mlflow.sklearn.log_model(
                LogisticRegression(max_iter=3000).fit(frame[train], y[train]),
                name="model",
                input_example=frame.head(3),
                registered_model_name="digits",
                pip_requirements=["scikit-learn"],  # inferring them loads the model in a subprocess
            )
        with mlflow.start_run(experiment_id=experiment):
            mlflow.sklearn.log_model(
                RandomForestClassifier(n_estimators=40, random_state=0, n_jobs=1).fit(x[train], y[train]),
                name="model",
                input_example=x[:2],
                registered_model_name="forest",
                pip_requirements=["scikit-learn"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
        with mlflow.start_run(experiment_id=experiment):
            mlflow.pytorch.log_model(
                net.eval(),
                name="model",
                input_example=(x[:2] / 16).astype(np.float32),
                registered_model_name="net",
                pip_requirements=["torch"],
            )
        with mlflow.start_run(experiment_id=experiment):
            mlflow.sklearn.log_model(
                make_pipeline(StandardScaler(), LogisticRegression()).fit(rounding_x, rounding_y),
                name="model",
                input_example=rounding_x[:2],
                registered_model_name="rounding",
                pip_requirements=["scikit-learn"],
            )
        with mlflow.start_run(experiment_id=experiment):
            mlflow.sklearn.log_model(
                Ridge().fit(x[train], y[train].astype(float)),
                name="model",
                input_example=x[:2],
                registered_model_name="ridge",
                pip_requirements=["scikit-learn"],
            )
        MlflowClient(uri, uri).set_registered_model_alias("digits", "champion", "1")
    return Registry(uri, root, root / "test.npz", root / "rounding.npz")
