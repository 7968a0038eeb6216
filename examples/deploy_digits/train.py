"""Train a logistic regression on scikit-learn's digits and register it as the champion."""

import argparse

import mlflow
from mlflow import MlflowClient
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--registered_model", default="digits")
parser.add_argument("--alias", default="champion")
parser.add_argument("--C", type=float, default=0.5)
args = parser.parse_args()

x, y = load_digits(return_X_y=True, as_frame=True)
train_x, test_x, train_y, test_y = train_test_split(x, y, test_size=0.25, random_state=7)
model = LogisticRegression(C=args.C, max_iter=2000).fit(train_x, train_y)
accuracy = float(model.score(test_x, test_y))

# Scanflow started this step's MLflow run (MLFLOW_RUN_ID): plain mlflow calls land in it.
mlflow.log_metric("test_accuracy", accuracy)
info = mlflow.sklearn.log_model(
    model, name="model", input_example=test_x[:2], registered_model_name=args.registered_model
)
MlflowClient().set_registered_model_alias(args.registered_model, args.alias, info.registered_model_version)
print(f"registered {args.registered_model} version {info.registered_model_version} (accuracy {accuracy:.3f})")
