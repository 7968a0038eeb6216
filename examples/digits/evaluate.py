"""Score every candidate on the held-out test set and register the best as the champion."""

import argparse
import json
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient

parser = argparse.ArgumentParser()
parser.add_argument("--registered_model", default="digits")
parser.add_argument("--alias", default="champion")
args = parser.parse_args()

test = np.load("test.npz")
results = {}
for path in sorted(Path("candidates").glob("*.json")):
    candidate = json.loads(path.read_text())
    model = mlflow.pyfunc.load_model(candidate["model_uri"])
    accuracy = float(np.mean(model.predict(test["X"]) == test["y"]))
    mlflow.log_metric(f"test_accuracy_{candidate['name']}", accuracy)
    results[candidate["name"]] = (accuracy, candidate["model_uri"])
    print(f"{candidate['name']:>7}: test accuracy {accuracy:.4f}")

best = max(results, key=lambda name: results[name][0])
accuracy, model_uri = results[best]
version = mlflow.register_model(model_uri, args.registered_model)
client = MlflowClient()
client.set_registered_model_alias(args.registered_model, args.alias, version.version)
client.set_model_version_tag(args.registered_model, version.version, "test_accuracy", f"{accuracy:.4f}")
mlflow.log_metric("best_test_accuracy", accuracy)
mlflow.set_tag("champion", best)
print(f"registered {best} as {args.registered_model} version {version.version} with alias @{args.alias}")
