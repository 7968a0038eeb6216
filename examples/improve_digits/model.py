"""The model of the example, shared by the workflow's training step and the quick trainer of run.py."""

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler


def make_model() -> Pipeline:
    """Logistic regression on pixels scaled inside the model: callers send raw 0-16 images."""
    return make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=2000))
