"""Train one candidate model, log it to this step's MLflow run, and describe it for `evaluate`."""

import argparse
import json
import os

import mlflow
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.svm import SVC

parser = argparse.ArgumentParser()
parser.add_argument("--model", choices=["svm", "forest", "logreg"], required=True)
parser.add_argument("--C", type=float, default=1.0)
parser.add_argument("--n_estimators", type=int, default=100)
args = parser.parse_args()

models = {
    # Probabilities (for drift checks and active learning) from a sigmoid fitted on held-out folds.
    "svm": lambda: CalibratedClassifierCV(SVC(C=args.C, gamma="scale", random_state=0), ensemble=False),
    "forest": lambda: RandomForestClassifier(n_estimators=args.n_estimators, random_state=0, n_jobs=1),
    "logreg": lambda: LogisticRegression(C=args.C, max_iter=2000),
}
train = np.load("train.npz")
model = models[args.model]()
scores = cross_val_score(model, train["X"], train["y"], cv=3)
model.fit(train["X"], train["y"])

# Scanflow started this step's MLflow run (MLFLOW_RUN_ID): plain mlflow calls land in it.
mlflow.log_metric("cv_accuracy", float(scores.mean()))
# Models are saved with skops (no pickle); some hold types skops asks us to vouch for.
trusted = {
    "forest": ["sklearn.tree._tree.Tree"],
    "svm": ["sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration"],
}.get(args.model)
info = mlflow.sklearn.log_model(
    model, name="model", input_example=train["X"][:2], skops_trusted_types=trusted
)

os.makedirs("candidates", exist_ok=True)
with open(f"candidates/{args.model}.json", "w") as handle:
    json.dump({"name": args.model, "model_uri": info.model_uri, "cv_accuracy": float(scores.mean())}, handle)
print(f"{args.model}: cross-validated accuracy {scores.mean():.4f}")
