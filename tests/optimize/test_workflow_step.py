"""Optimization as a workflow step: between the step that registers a model and whatever serves it.

One run holds two branches: a forest whose ONNX version agrees with it, and a
model whose features differ only past float32's precision, which cannot.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

TRAIN = """
import mlflow, numpy as np
from mlflow import MlflowClient
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def train(kind: str) -> None:
    if kind == "forest":
        x, y = load_digits(return_X_y=True)
        model = RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=1)
        trusted = ["sklearn.tree._tree.Tree"]
    else:  # features that differ only past float32's precision
        noise = np.random.default_rng(0).normal(size=(400, 2))
        x, y, trusted = 1e8 + noise, (noise[:, 0] > 0).astype(int), None
        model = make_pipeline(StandardScaler(), LogisticRegression())
    np.savez(f"{kind}.npz", X=x[-300:])
    model.fit(x, y)
    info = mlflow.sklearn.log_model(
        model, name="model", input_example=x[:2], registered_model_name=kind,
        skops_trusted_types=trusted, pip_requirements=["scikit-learn"],
    )
    MlflowClient().set_registered_model_alias(kind, "champion", info.registered_model_version)
"""


def _branch(kind: str) -> str:
    return f"""
  - workflow: {kind}
    nodes:
      - executor: train
        function: train:train
        env_manager: current
        parameters: {{kind: {kind}}}
        outputs: [{kind}.npz]
      - executor: optimize
        function: scanflow.optimize:optimize_step
        env_manager: current
        depends_on: [train]
        inputs: [{kind}.npz]
        parameters: {{model: "models:/{kind}@champion", data: {kind}.npz, alias: fast}}
      - executor: after
        function: os:getcwd
        env_manager: current
        depends_on: [optimize]"""


def test_an_optimize_step_registers_what_agrees_and_fails_what_does_not(project: Path, write) -> None:
    write("train.py", TRAIN)
    write("workflow.yaml", "name: fast-models\nnodes:" + _branch("forest") + _branch("rounding") + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "scanflow.cli", "run"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "250"},
    )
    said = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1, said
    uri = f"sqlite:///{project / '.scanflow' / 'mlflow.db'}"
    client = MlflowClient(uri, uri)

    # The forest: its ONNX version registered, the alias moved, the numbers on the step's run.
    fast = client.get_model_version_by_alias("forest", "fast")
    assert str(fast.version) == "2" and fast.tags["scanflow.optimized_from"] == "forest/1"
    assert str(client.get_model_version_by_alias("forest", "champion").version) == "1"
    [step] = client.search_runs(
        [client.get_experiment_by_name("fast-models").experiment_id],
        "tags.`scanflow.node` = 'forest/optimize'",
    )
    assert step.data.metrics["agreement"] == 1.0 and step.data.metrics["one_row_speedup"] > 1
    assert step.data.tags["scanflow.optimized_model"] == "models:/forest/2"

    # The other: the step fails with the reason, nothing is registered, the step after it is skipped.
    assert "the ONNX model does not answer like models:/rounding/1" in said
    assert [str(v.version) for v in client.search_model_versions("name='rounding'")] == ["1"]
    assert re.search(r"rounding/after\W+skipped", said) and re.search(r"rounding/optimize\W+failed", said)
    assert "exit code 1: the ONNX model does not answer like" in said  # the reason, in the summary
