"""Optimization as a workflow step: between the step that registers a model and whatever serves it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
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
    np.savez("rows.npz", X=x[-300:])
    model.fit(x, y)
    info = mlflow.sklearn.log_model(
        model, name="model", input_example=x[:2], registered_model_name="digits",
        skops_trusted_types=trusted, pip_requirements=["scikit-learn"],
    )
    MlflowClient().set_registered_model_alias("digits", "champion", info.registered_model_version)
"""

WORKFLOW = """
name: fast-digits
nodes:
  - executor: train
    function: train:train
    env_manager: current
    parameters: {{kind: {kind}}}
    outputs: [rows.npz]
  - executor: optimize
    function: scanflow.optimize:optimize_step
    env_manager: current
    depends_on: [train]
    inputs: [rows.npz]
    parameters: {{model: "models:/digits@champion", data: rows.npz, alias: fast}}
  - executor: after
    function: os:getcwd
    env_manager: current
    depends_on: [optimize]
"""


def _run(project: Path, write: Callable[[str, str], Path], kind: str) -> subprocess.CompletedProcess:
    write("train.py", TRAIN)
    write("workflow.yaml", WORKFLOW.format(kind=kind))
    return subprocess.run(
        [sys.executable, "-m", "scanflow.cli", "run"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "250"},
    )


def _registry(project: Path) -> MlflowClient:
    uri = f"sqlite:///{project / '.scanflow' / 'mlflow.db'}"
    return MlflowClient(uri, uri)


def test_an_optimize_step_registers_the_onnx_version_and_moves_the_alias(project: Path, write) -> None:
    result = _run(project, write, "forest")
    assert result.returncode == 0, result.stdout + result.stderr
    client = _registry(project)
    fast = client.get_model_version_by_alias("digits", "fast")
    assert str(fast.version) == "2" and fast.tags["scanflow.optimized_from"] == "digits/1"
    assert str(client.get_model_version_by_alias("digits", "champion").version) == "1"
    [step] = client.search_runs(
        [client.get_experiment_by_name("fast-digits").experiment_id], "tags.`scanflow.node` = 'optimize'"
    )
    assert step.data.metrics["agreement"] == 1.0 and step.data.metrics["one_row_speedup"] > 1
    assert step.data.tags["scanflow.optimized_model"] == "models:/digits/2"


def test_a_refused_optimization_fails_its_step_with_the_reason_and_stops_what_follows(
    project: Path, write
) -> None:
    result = _run(project, write, "rounding")
    assert result.returncode == 1
    said = " ".join((result.stdout + result.stderr).split())
    assert "the ONNX model does not answer like models:/digits/1" in said
    assert "after" in said and "skipped" in said
    client = _registry(project)
    assert [str(v.version) for v in client.search_model_versions("name='digits'")] == ["1"]
