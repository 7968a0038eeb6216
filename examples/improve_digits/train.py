"""The workflow's training step: logistic regression on the reference data plus any labelled samples.

Scanflow's improve loop runs this step with two more parameters: ``--labelled``
(an .npz of the samples people labelled, in the step's working directory) and
``--registered_model`` (the name to register the model under).
"""

import argparse

import mlflow
import mlflow.sklearn
import numpy as np
from model import make_model

parser = argparse.ArgumentParser()
parser.add_argument("--reference", required=True)
parser.add_argument("--labelled")
parser.add_argument("--registered_model", required=True)
args = parser.parse_args()

parts = [np.load(args.reference)] + ([np.load(args.labelled)] if args.labelled else [])
features = np.vstack([p["X"].reshape(len(p["X"]), -1) for p in parts])
labels = np.concatenate([p["y"] for p in parts])
print(f"training on {len(labels)} samples ({len(labels) - len(parts[0]['y'])} labelled in the loop)")
model = make_model().fit(features, labels)

with mlflow.start_run():
    mlflow.log_metric("training_samples", len(labels))
    mlflow.sklearn.log_model(
        model,
        name="model",
        registered_model_name=args.registered_model,
        pip_requirements=mlflow.sklearn.get_default_pip_requirements(),
    )
