"""Labelled samples as a dataset: arrays for training, a file, an MLflow artifact.

Labels live in the store, features in the queue's source; this joins them,
so what trains a model is exactly what people labelled, and the file tracked
in MLflow says which samples and labels a model version learnt from.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from scanflow.interact.schema import Status
from scanflow.interact.sources import Samples, open_source, write_dataset
from scanflow.interact.store import LabelStore, LabelStoreError, QueuedSample


def labelled_samples(store: LabelStore, queue: str, samples: Samples | None = None) -> Samples:
    """The queue's labelled samples (including those already used), with their labels as targets.

    ``samples`` is the queue's source already loaded, to avoid reading it again.
    """
    found = store.queue(queue)
    answered = store.items(queue, status=[Status.LABELLED, Status.USED])  # what store.labels reads
    if samples is None:
        samples = open_source(found.source).load()
    chosen = samples.take(samples.positions(item.sample_ref for item in answered))
    _refuse_changed(queue, answered, chosen)
    targets = np.asarray([found.class_for(item.label) for item in answered])
    return Samples(
        ids=chosen.ids,
        features=chosen.features,
        targets=targets,
        image_shape=tuple(found.image_shape) if found.image_shape else samples.image_shape,
        feature_names=samples.feature_names,
    )


def _refuse_changed(queue: str, answered: list[QueuedSample], chosen: Samples) -> None:
    """Refuse labelled samples whose values changed in the source since they were queued.

    A label names a sample by id; if the file behind the queue was replaced,
    the same id may now hold other values, and training would silently learn
    a label for data nobody saw. ``chosen`` holds ``answered``'s samples, in order.
    """
    now = chosen.hashes()
    changed = [
        item.sample_ref for item, value in zip(answered, now, strict=True) if item.content_hash != value
    ]
    if changed:
        shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise LabelStoreError(
            f"{len(changed)} labelled samples of queue '{queue}' hold other values in its source than when"
            f" they were labelled ({shown}): the data was replaced. Restore it, or label into a new queue"
        )


def export_labelled(store: LabelStore, queue: str, path: str | Path, samples: Samples | None = None) -> Path:
    """Write the queue's labelled samples to a dataset file (``.npz``, ``.csv`` or ``.parquet``)."""
    return write_labelled(labelled_samples(store, queue, samples), path)


def write_labelled(labelled: Samples, path: str | Path) -> Path:
    """Write labelled samples to a dataset file; images keep their shape in ``.npz``."""
    features = labelled.features
    if labelled.image_shape and Path(path).suffix == ".npz":
        features = features.reshape(len(features), *labelled.image_shape)
    return write_dataset(path, features, labelled.targets, labelled.ids, labelled.feature_names)


def track_labelled(client: Any, run_id: str, path: Path, labelled: Samples, context: str = "training") -> str:
    """Log the labelled file to ``run_id``, as an artifact and as the run's dataset input.

    The artifact keeps the exact file; the dataset input makes the run list it
    under "Datasets" in MLflow, with a digest that tells label sets apart.
    Returns the artifact's ``runs:/`` URI, which every dataset option reads.
    """
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    client.log_artifact(run_id, str(path), "labelled")
    location = f"{client.get_run(run_id).info.artifact_uri}/labelled/{path.name}"
    with warnings.catch_warnings():  # MLflow registers local artifact sources twice and says so
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways")
        dataset = mlflow.data.from_numpy(
            labelled.features, targets=np.asarray(labelled.targets), source=location, name=path.stem
        )
    tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)]
    client.log_inputs(run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(), tags=tags)])
    return f"runs:/{run_id}/labelled/{path.name}"
