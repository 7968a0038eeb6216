"""How the improve loop trains a challenger: a workflow's training step, or a function.

Either way the result is a new version of the registered model, trained on
the reference data plus every label given so far, and registered without an
alias: it only becomes the champion if it wins the comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from scanflow.interact.models import register_model
from scanflow.interact.sources import Samples

LABELLED_FILE = "labelled.npz"
STAGE_STEP = "stage-labelled-data"


class TrainingError(RuntimeError):
    """The training step failed or registered no model version."""


@dataclass(frozen=True)
class TrainingData:
    """What a trainer gets: labelled samples (also as a file) and the reference data."""

    model_name: str
    labelled: Samples
    labelled_file: Path  # .npz with X, y, ids
    reference: Samples | None

    def combined(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference plus labelled samples, as (features, labels)."""
        if self.reference is None:
            return self.labelled.features, np.asarray(self.labelled.targets)
        if self.reference.targets is None:
            raise TrainingError("the reference data has no labels; give a dataset with a label column or y")
        features = np.vstack([self.reference.features, self.labelled.features])
        labels = np.concatenate([np.asarray(self.reference.targets), np.asarray(self.labelled.targets)])
        return features, labels


@dataclass(frozen=True)
class TrainedModel:
    version: str
    run_id: str | None  # the MLflow run that trained it
    workflow_run: str | None = None  # the Scanflow run id, for a workflow step


class Trainer(Protocol):
    def train(self, data: TrainingData, client: Any, run_id: str, tracking_uri: str) -> TrainedModel: ...


class FunctionTrainer:
    """Trains with a plain function ``fit(features, labels) -> fitted scikit-learn model``."""

    def __init__(self, fit: Callable[[np.ndarray, np.ndarray], Any]):
        self.fit = fit

    def train(self, data: TrainingData, client: Any, run_id: str, tracking_uri: str) -> TrainedModel:
        features, labels = data.combined()
        model = self.fit(features, labels)
        if model is None:
            raise TrainingError(
                f"the training function {self.fit!r} returned no model; return the fitted model"
            )
        return TrainedModel(register_model(client, run_id, model, data.model_name), run_id)


class WorkflowTrainer:
    """Runs one step of a workflow, with the labelled data as a file in its data directory.

    The step gets two more parameters: ``labelled`` (the file name, relative to
    its working directory: X, y and ids in an ``.npz``) and
    ``registered_model`` (the name to register its model under). It trains on
    its own reference data plus the labelled file and registers one new
    version from its MLflow run, e.g. ``mlflow.sklearn.log_model(model,
    name="model", registered_model_name=registered_model)``.
    """

    def __init__(self, workflow: Any, step: str, *, backend: str = "local", home: str | Path | None = None):
        from scanflow.graph import Graph
        from scanflow.spec import Workflow

        self.workflow = workflow if isinstance(workflow, Workflow) else Workflow.from_yaml(workflow)
        steps = Graph.from_workflow(self.workflow).steps
        if step not in steps:
            from scanflow.spec.errors import did_you_mean

            hint = did_you_mean(step, steps)
            raise ValueError(
                f"workflow '{self.workflow.name}' has no step '{step}'{f' ({hint})' if hint else ''};"
                f" its steps: {', '.join(steps)}"
            )
        self.step = steps[step]
        self.backend = backend
        self.home = home

    def training_workflow(self, data: TrainingData) -> Any:
        """The workflow actually run: copy the labelled file in, then the training step."""
        from scanflow.spec import Executor, Workflow

        stage = Executor(
            STAGE_STEP,
            function="scanflow.interact.staging:copy_into_data_dir",
            parameters={"source": str(data.labelled_file.resolve()), "target": LABELLED_FILE},
            env_manager="current",
            outputs=[LABELLED_FILE],
        )
        executor = self.step.executor
        train = executor.model_copy(
            update={
                "depends_on": [STAGE_STEP],
                "parameters": {
                    **executor.parameters,
                    "labelled": LABELLED_FILE,
                    "registered_model": data.model_name,
                },
                "inputs": sorted({*executor.inputs, LABELLED_FILE}),
            }
        )
        workflow = Workflow(self.workflow.name, nodes=[stage, train])
        workflow.base_dir = self.workflow.base_dir
        return workflow

    def train(self, data: TrainingData, client: Any, run_id: str, tracking_uri: str) -> TrainedModel:
        from scanflow.run.runner import run_workflow

        result = run_workflow(
            self.training_workflow(data),
            backend=self.backend,
            tracking_uri=tracking_uri,
            home=self.home,
            stream_logs=False,
            live=False,
        )
        record = result.steps.get(self.step.executor.name)
        if not result.ok or record is None:
            reason = record.reason if record is not None and record.reason else result.status.value
            log = _tail(record.log_path) if record is not None and record.log_path else ""
            raise TrainingError(
                f"training step '{self.step.key}' of workflow '{self.workflow.name}' did not succeed"
                f" (run {result.run_id}: {reason}){log}"
            )
        step_run = record.mlflow_run_id
        versions = [
            v for v in client.search_model_versions(f"name='{data.model_name}'") if v.run_id == step_run
        ]
        if not versions:
            raise TrainingError(
                f"training step '{self.step.key}' succeeded but registered no version of '{data.model_name}'"
                f" from its run; log the model with registered_model_name=<the 'registered_model' parameter>"
            )
        newest = max(versions, key=lambda v: int(v.version))
        return TrainedModel(str(newest.version), step_run, result.run_id)


def _tail(path: str, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\nlast lines of its log:\n  " + "\n  ".join(text) if text else ""
