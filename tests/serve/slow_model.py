"""A model (from code) that answers like a constant classifier, slowly: the rules tests' "accurate" model."""

import time

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel


class SlowModel(PythonModel):
    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        time.sleep(0.03)
        return np.full(len(model_input), 7)


mlflow.models.set_model(SlowModel())
