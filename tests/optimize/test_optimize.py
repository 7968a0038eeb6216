"""`scanflow optimize`: a registered model becomes an ONNX version that answers the same, or nothing changes.

Every test runs the command against a real MLflow registry, and loads what
it registered back through MLflow, as a server or a notebook would.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from serve.serving import Server, Store, wait_for
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.serve.prediction_log import read_predictions

from .conftest import Registry, tracking_at


@dataclass(frozen=True)
class Ran:
    returncode: int
    output: str  # stdout and stderr


def scanflow(registry: Registry, *arguments: str) -> Ran:
    """`scanflow optimize ARGUMENTS` in this process (the interpreter and its imports are paid once)."""
    with tracking_at(registry.tracking_uri):  # the command points MLflow at the store; put it back
        result = CliRunner().invoke(
            app,
            ["optimize", *arguments, "--tracking-uri", registry.tracking_uri],
            env={"COLUMNS": "250"},  # messages on one line, boxed or not
        )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback the user would have seen
    return Ran(result.exit_code, result.output)


def said(result: Ran) -> str:
    return " ".join(result.output.split())


def load(registry: Registry, uri: str):
    import mlflow.pyfunc

    with tracking_at(registry.tracking_uri):
        return mlflow.pyfunc.load_model(uri)


def versions(registry: Registry, name: str) -> list[str]:
    client = MlflowClient(registry.tracking_uri, registry.tracking_uri)
    return sorted((str(v.version) for v in client.search_model_versions(f"name='{name}'")), key=int)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")  # the original, given arrays
def test_a_scikit_learn_table_model_becomes_an_onnx_version_that_answers_the_same(registry: Registry) -> None:
    client = MlflowClient(registry.tracking_uri, registry.tracking_uri)
    result = scanflow(registry, "models:/digits@champion", "--data", str(registry.test_npz))
    assert result.returncode == 0, said(result)
    text = said(result)
    assert "predictions agree on 397/397 rows (100.00%)" in text
    assert "LogisticRegression" in text and "one row" in text and "speed-up" in text

    version = versions(registry, "digits")[-1]
    assert f"registered digits/{version}" in text
    assert (
        str(client.get_model_version_by_alias("digits", "champion").version) == "1"
    )  # no --alias: not moved
    tags = client.get_model_version("digits", version).tags
    assert tags["scanflow.optimized_from"] == "digits/1" and tags["scanflow.runtime"] == "onnxruntime"

    data = np.load(registry.test_npz)
    original, optimized = load(registry, "models:/digits/1"), load(registry, f"models:/digits/{version}")
    columns = original.metadata.get_input_schema().input_names()
    rows = pd.DataFrame(data["X"], columns=columns)
    assert np.array_equal(np.asarray(optimized.predict(rows)), np.asarray(original.predict(rows)))
    # The improve loop gets labels, probabilities and classes from it, as from the original estimator.
    from scanflow.interact.models import load_version

    champion, challenger = (load_version(client, "digits", version=v) for v in ("1", version))
    assert challenger.classes == champion.classes == list(range(10))
    assert np.allclose(challenger.predict_proba(data["X"]), champion.predict_proba(data["X"]), atol=1e-5)

    run = client.get_run(client.get_model_version("digits", version).run_id)
    assert run.data.tags["scanflow.kind"] == "optimize" and run.info.status == "FINISHED"
    assert run.data.metrics["agreement"] == 1.0 and run.data.metrics["one_row_speedup"] > 0
    assert run.data.params["rows_checked"] == "397"


def test_moving_the_alias_to_the_optimized_version_switches_a_server_that_follows_it(
    registry: Registry, tmp_path: Path
) -> None:
    data = np.load(registry.test_npz)
    client = MlflowClient(registry.tracking_uri, registry.tracking_uri)
    client.set_registered_model_alias("forest", "champion", "1")
    store = Store(registry.tracking_uri, registry.root, [], [], [], [], [])
    log = f"sqlite:///{tmp_path / 'predictions.db'}"
    arguments = ["models:/forest@champion", "--follow-every", "0.5", "--log-db", log, "--report-every", "0"]
    server = Server(arguments, store, tmp_path / "server")
    try:
        server.wait_ready()
        rows = data["X"][:50].tolist()
        with server.client() as http:
            before = http.post("/invocations", json={"inputs": rows}).json()["predictions"]
            result = scanflow(
                registry, "models:/forest/1", "--data", str(registry.test_npz), "--alias", "champion"
            )
            assert result.returncode == 0, said(result)
            optimized = str(client.get_model_version_by_alias("forest", "champion").version)
            assert optimized != "1" and "forest@champion now names it" in said(result)
            for _ in range(100):
                if http.get("/version").json()["models"]["forest"] == f"forest/{optimized}":
                    break
                time.sleep(0.2)
            assert http.get("/version").json()["models"]["forest"] == f"forest/{optimized}"
            after = http.post("/invocations", json={"inputs": rows}).json()["predictions"]
        assert after == before
        # The server calls the ONNX model directly, so its probabilities reach the prediction log.
        logged = wait_for(
            lambda: [r for r in read_predictions(log) if r["model_version"] == optimized][:50] or None,
            message="the optimized model's logged rows",
        )
        assert len(logged) == 50
        for row in logged:
            probabilities = row["probabilities"]
            assert sorted(probabilities, key=int) == [str(c) for c in range(10)]
            assert max(probabilities, key=probabilities.get) == str(row["output"])
    finally:
        server.stop()


def test_a_pytorch_network_runs_on_onnx_runtime_and_on_openvino(registry: Registry) -> None:
    data = np.load(registry.test_npz)
    rows = (data["X"] / 16).astype(np.float32)
    np.savez(registry.root / "net-rows.npz", X=rows)
    original = load(registry, "models:/net/1")
    for runtime in ("onnxruntime", "openvino"):
        result = scanflow(
            registry, "models:/net/1", "--data", str(registry.root / "net-rows.npz"), "--runtime", runtime
        )
        assert result.returncode == 0, said(result)
        assert "outputs match on 397/397 rows (100.00%)" in said(result) and f"run by {runtime}" in said(
            result
        )
        version = versions(registry, "net")[-1]
        optimized = load(registry, f"models:/net/{version}")
        assert optimized.unwrap_python_model().runtime == runtime
        assert np.allclose(np.asarray(optimized.predict(rows)), np.asarray(original.predict(rows)), atol=1e-4)


def test_a_regression_answers_the_same_values_and_scripts_read_the_result(registry: Registry) -> None:
    result = scanflow(registry, "models:/ridge/1", "--data", str(registry.test_npz), "--json")
    assert result.returncode == 0, said(result)
    described = json.loads(result.output)  # nothing but the document on stdout
    assert described["agreement"]["compared"] == "values"
    assert described["agreement"]["rows"] == described["agreement"]["matching"] == 397
    assert described["registered"] == {"name": "ridge", "version": versions(registry, "ridge")[-1]}
    assert described["model_uri"] == f"models:/ridge/{described['registered']['version']}"
    assert described["one_row_ms"]["optimized"] > 0 and described["batch_rows"] == 397
    data = np.load(registry.test_npz)
    original, optimized = load(registry, "models:/ridge/1"), load(registry, described["model_uri"])
    expected, given = np.asarray(original.predict(data["X"])), np.asarray(optimized.predict(data["X"]))
    assert given.shape == expected.shape and np.allclose(given, expected, rtol=1e-3, atol=1e-4)


def test_int8_weights_keep_a_networks_top_class_and_are_told_apart(registry: Registry) -> None:
    data = np.load(registry.test_npz)
    rows = (data["X"] / 16).astype(np.float32)
    np.savez(registry.root / "net-rows.npz", X=rows)
    arguments = ["models:/net/1", "--data", str(registry.root / "net-rows.npz"), "--quantize"]
    result = scanflow(registry, *arguments, "--compare", "top-class")
    assert result.returncode == 0, said(result)
    assert "ONNX with int8 weights" in said(result) and "top classes agree on 397/397 rows" in said(result)
    version = versions(registry, "net")[-1]
    client = MlflowClient(registry.tracking_uri, registry.tracking_uri)
    assert client.get_model_version("net", version).tags["scanflow.runtime"] == "onnxruntime int8"
    original, quantized = load(registry, "models:/net/1"), load(registry, f"models:/net/{version}")
    scores, approximated = np.asarray(original.predict(rows)), np.asarray(quantized.predict(rows))
    assert np.array_equal(scores.argmax(axis=1), approximated.argmax(axis=1))
    assert not np.allclose(scores, approximated, rtol=1e-6, atol=1e-7)  # the weights did change


def test_a_conversion_that_loses_precision_is_refused_and_registers_nothing(registry: Registry) -> None:
    before = versions(registry, "rounding")
    result = scanflow(registry, "models:/rounding/1", "--data", str(registry.rounding_npz))
    assert result.returncode == 1
    text = said(result)
    assert "the ONNX model does not answer like models:/rounding/1" in text
    assert "below the 99.90% required; nothing was registered" in text
    assert versions(registry, "rounding") == before
    client = MlflowClient(registry.tracking_uri, registry.tracking_uri)
    runs = client.search_runs(
        [client.get_run(client.get_model_version("rounding", "1").run_id).info.experiment_id],
        "tags.`scanflow.kind` = 'optimize' and tags.`scanflow.source` = 'models:/rounding/1'",
    )
    assert runs and runs[0].info.status == "FAILED" and runs[0].data.metrics["agreement"] < 0.9


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["models:/forest/1", "--runtime", "openvino"],
            "OpenVINO runs neural networks; classic scikit-learn models need --runtime onnxruntime",
        ),
        (["models:/forest/1", "--data", "missing.npz"], "dataset file missing.npz does not exist"),
        (["models:/net/1", "--data", "{rounding}"], "are rows of 2 values, but the model takes 64 values"),
        (["models:/forest/7"], "cannot find version 7 of registered model 'forest'"),
        (["models:/forest/1", "--runtime", "tensorrt"], "'tensorrt' is not one of 'onnxruntime', 'openvino'"),
        (["runs:/0123456789abcdef/model", "--alias", "champion"], "--alias needs a registered model"),
        (["models:/forest/1", "--min-agreement", "1.5"], "1.5 is not in the range 0.0<=x<=1.0"),
        (
            ["models:/forest/1", "--quantize"],
            "--quantize has nothing to do: the model's ONNX graph has no MatMul",
        ),
        (
            ["models:/net/1", "--quantize", "--runtime", "openvino"],
            "--quantize makes int8 weights for ONNX Runtime",
        ),
        (["models:/ridge/1", "--compare", "top-class"], "--compare top-class needs one score per class"),
    ],
)
def test_what_cannot_be_optimized_is_named_and_registers_nothing(
    registry: Registry, arguments: list[str], message: str
) -> None:
    before = {name: versions(registry, name) for name in ("forest", "net")}
    result = scanflow(registry, *(a.replace("{rounding}", str(registry.rounding_npz)) for a in arguments))
    assert result.returncode in (1, 2), said(result)  # 2: the command line itself is wrong
    assert message in said(result)
    assert {name: versions(registry, name) for name in ("forest", "net")} == before
