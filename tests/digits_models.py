"""Two small digits classifiers registered in a real MLflow registry, shared by the serve and deploy tests.

Importable as ``digits_models`` from every test folder (the root conftest puts
``tests/`` on the path).
"""

from __future__ import annotations

from typing import Any


def fit_digits_models() -> tuple[Any, Any, list[Any], Any]:
    """Two logistic regressions on scikit-learn's digits that answer differently: x, y, models, signature."""
    from mlflow.models import infer_signature
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    x, y = load_digits(return_X_y=True, as_frame=True)
    with threadpool_limits(1):  # a busy machine makes multi-threaded BLAS spin: 0.3 s instead of 20
        models = [
            LogisticRegression(max_iter=3000).fit(x, y),
            LogisticRegression(C=1e-4, max_iter=3000).fit(x, y),
        ]
    return x, y, models, infer_signature(x, models[0].predict(x))


def register_digits_models(experiment_id: str, requirements: list[str]) -> tuple[Any, Any, list[Any], Any]:
    """Log both as versions 1 and 2 of ``digits`` in the current MLflow registry, ``champion`` on 1."""
    import mlflow
    from mlflow import MlflowClient

    x, y, models, signature = fit_digits_models()
    for model in models:
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                registered_model_name="digits",
                pip_requirements=requirements,
            )
    uri = mlflow.get_tracking_uri()
    MlflowClient(uri, mlflow.get_registry_uri()).set_registered_model_alias("digits", "champion", "1")
    return x, y, models, signature
