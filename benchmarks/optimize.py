"""What `scanflow optimize` gains: each model in its own framework against its ONNX version.

    .venv/bin/python -m benchmarks.optimize [--seconds 5] [--no-http]

Registers four digits classifiers in a temporary MLflow store (a logistic
regression, a 200-tree random forest and an MLP from scikit-learn, and a
PyTorch MLP), optimizes each with ONNX Runtime (and the PyTorch one with
int8 weights and with OpenVINO too), and prints the prediction time of one row and of 1000 rows in
the original framework (called as `scanflow serve` calls it) and in each
runtime, one thread each. Then it serves the forest before and after with
`scanflow serve` and drives both with wrk (one row per request, keep-alive
connections, from a separate process): requests/s and p50/p99 latency.
Needs `scanflow[dev]` (onnxruntime, openvino, torch) and wrk for the HTTP part.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.serve import BIN, free_port, measure

console = Console(width=120)
LABELS = {
    "lr": "logistic regression",
    "forest": "random forest, 200 trees",
    "mlp": "MLP, scikit-learn",
    "net": "MLP, PyTorch",
}
TRUSTED = {  # types skops asks us to vouch for when MLflow saves these models
    "forest": ["sklearn.tree._tree.Tree"],
    "mlp": ["sklearn.neural_network._stochastic_optimizers.AdamOptimizer"],
}


@dataclass
class Row:
    model: str
    runtime: str
    one_row_s: float
    batch_s: float
    original_one_row_s: float
    original_batch_s: float
    agreement: str


def register(root: Path) -> tuple[str, np.ndarray]:
    """The four models as ``lr``, ``forest``, ``mlp`` and ``net`` version 1; returns the URI and test rows."""
    import mlflow
    import mlflow.pytorch
    import mlflow.sklearn
    import torch
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("digits", artifact_location=(root / "artifacts").as_uri())
    x, y = load_digits(return_X_y=True)
    x = x / 16
    train, test = slice(0, 1400), slice(1400, None)
    models = {
        "lr": LogisticRegression(max_iter=3000),
        "forest": RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1),
        "mlp": MLPClassifier((256, 128), max_iter=400, random_state=0),
    }
    for name, model in models.items():
        console.print(f"training {name}")
        with mlflow.start_run(experiment_id=experiment):
            mlflow.sklearn.log_model(
                model.fit(x[train], y[train]),
                name="model",
                input_example=x[:2],
                registered_model_name=name,
                pip_requirements=["scikit-learn"],
                skops_trusted_types=TRUSTED.get(name),
            )
    console.print("training net")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    )
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    features, labels = torch.tensor(x[train], dtype=torch.float32), torch.tensor(y[train])
    for _ in range(100):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(features), labels).backward()
        optimizer.step()
    with mlflow.start_run(experiment_id=experiment):
        mlflow.pytorch.log_model(
            net.eval(),
            name="model",
            input_example=x[:2].astype(np.float32),
            registered_model_name="net",
            pip_requirements=["torch"],
        )
    return uri, x[test]


def optimize_all(uri: str, rows: np.ndarray, root: Path) -> list[Row]:
    from scanflow.optimize import optimize_model

    results = []
    for model, runtime, quantize in (
        ("lr", "onnxruntime", False),
        ("forest", "onnxruntime", False),
        ("mlp", "onnxruntime", False),
        ("net", "onnxruntime", False),
        ("net", "onnxruntime", True),
        ("net", "openvino", False),
    ):
        label = runtime + (" int8" if quantize else "")
        console.print(f"optimizing {model} for {label}")
        data = rows.astype(np.float32) if model == "net" else rows
        done = optimize_model(
            f"models:/{model}/1",
            data=data,
            runtime=runtime,
            threads=1,
            quantize=quantize,
            compare="top-class",  # the network's class scores; scikit-learn classifiers compare labels
            tracking_uri=uri,
            home=root,
        )
        results.append(
            Row(
                LABELS[model],
                label,
                done.after.one_row,
                done.after.batch,
                done.before.one_row,
                done.before.batch,
                f"{done.agreement.matching}/{done.agreement.rows}",
            )
        )
    return results


def report_latency(rows: list[Row], batch: int) -> None:
    table = Table(title=f"prediction time, one thread: one row, and {batch} rows at once")
    for column in ("model", "runtime", "agree", "1 row: original", "optimized", "ratio"):
        table.add_column(column, justify="left" if column in ("model", "runtime") else "right")
    table.add_column(f"{batch} rows: original", justify="right")
    table.add_column("optimized", justify="right")
    table.add_column("ratio", justify="right")
    for row in rows:
        table.add_row(
            row.model,
            row.runtime,
            row.agreement,
            _time(row.original_one_row_s),
            _time(row.one_row_s),
            f"{row.original_one_row_s / row.one_row_s:.1f}x",
            _time(row.original_batch_s),
            _time(row.batch_s),
            f"{row.original_batch_s / row.batch_s:.1f}x",
        )
    console.print(table)


def serve_both(uri: str, rows: np.ndarray, root: Path, args: argparse.Namespace) -> None:
    """The forest served before and after, under the same load."""
    env = {**os.environ, "SCANFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1"}
    body = json.dumps({"inputs": [rows[7].tolist()]})
    results = []
    for name, model in (
        ("forest, scikit-learn", "models:/forest/1"),
        ("forest, ONNX Runtime", "models:/forest/2"),
    ):
        port = free_port()
        command = [str(BIN / "scanflow"), "serve", model, "--port", str(port), "--no-log"]
        results.append(measure(name, command, "/ready", port, env, args, body, root))
    table = Table(
        title=f"`scanflow serve`, 1 worker, {args.connections} keep-alive connections, {args.seconds} s"
    )
    for column in ("model", "requests/s", "p50", "p99", "errors"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for result in results:
        table.add_row(
            result.name,
            f"{result.requests_per_s:.0f}",
            f"{result.p50_ms:.2f} ms",
            f"{result.p99_ms:.2f} ms",
            str(result.errors),
        )
    console.print(table)
    before, after = results
    console.print(
        f"optimized / original: {after.requests_per_s / before.requests_per_s:.1f}x the requests/s,"
        f" p99 {after.p99_ms / before.p99_ms:.2f}x"
    )


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each HTTP load run")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections wrk holds open")
    parser.add_argument("--no-http", action="store_true", help="skip the served comparison")
    args = parser.parse_args()
    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    import torch

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="scanflow-bench-optimize-"))
    try:
        uri, rows = register(root)
        report_latency(optimize_all(uri, rows, root), min(len(rows), 1000))
        if not args.no_http:
            if shutil.which("wrk") is None:
                sys.exit("wrk is not installed (apt-get install wrk); --no-http skips the served comparison")
            serve_both(uri, rows, root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
